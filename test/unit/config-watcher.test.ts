import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { Debouncer, watchConnectorFiles, watchedDirectories } from '../../src/runtime/config-watcher.js';

describe('Debouncer', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires once, delayMs after the last of a burst of triggers', () => {
    const fire = vi.fn();
    const debouncer = new Debouncer(500, fire);
    debouncer.trigger();
    vi.advanceTimersByTime(300);
    debouncer.trigger();
    vi.advanceTimersByTime(300);
    debouncer.trigger();
    vi.advanceTimersByTime(499);
    expect(fire).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fire).toHaveBeenCalledTimes(1);
    debouncer.trigger();
    vi.advanceTimersByTime(500);
    expect(fire).toHaveBeenCalledTimes(2);
  });

  it('fires nothing once cancelled', () => {
    const fire = vi.fn();
    const debouncer = new Debouncer(100, fire);
    debouncer.trigger();
    debouncer.cancel();
    vi.advanceTimersByTime(1000);
    expect(fire).not.toHaveBeenCalled();
  });
});

describe('watching connector files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tideline-watch-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('watches each directory given and the directory of each file given', () => {
    writeFileSync(join(dir, 'a.yaml'), '');
    expect(watchedDirectories([dir, join(dir, 'a.yaml'), join(dir, 'missing.yml'), join(dir, 'sub', 'b.yaml')])).toEqual([dir, join(dir, 'sub')]);
  });

  /** Resolves with the number of callbacks once none came for `quietMs`. */
  async function settle(count: () => number, quietMs = 400): Promise<number> {
    let last = -1;
    while (count() !== last) {
      last = count();
      await new Promise((resolve) => setTimeout(resolve, quietMs));
    }
    return last;
  }

  function watching(paths: string[]): { calls: () => number; close: () => void } {
    let calls = 0;
    const watcher = watchConnectorFiles(paths, () => (calls += 1), { debounceMs: 100, logger: createLogger({ level: 'silent' }) });
    return { calls: () => calls, close: () => watcher.close() };
  }

  it("calls back once for an editor's save (a temporary file renamed over the old one), not for other files or a save that changed nothing", async () => {
    writeFileSync(join(dir, 'a.yaml'), 'name: a\n');
    const watcher = watching([dir]);
    try {
      writeFileSync(join(dir, '.a.yaml.swp'), 'x');
      writeFileSync(join(dir, 'notes.txt'), 'x');
      writeFileSync(join(dir, 'a.yaml'), 'name: a\n');
      expect(await settle(watcher.calls)).toBe(0);
      writeFileSync(join(dir, 'a.yaml.tmp'), 'name: a\nenabled: true\n');
      renameSync(join(dir, 'a.yaml.tmp'), join(dir, 'a.yaml'));
      expect(await settle(watcher.calls)).toBe(1);
      writeFileSync(join(dir, 'b.yml'), 'name: b\n');
      rmSync(join(dir, 'a.yaml'));
      expect(await settle(watcher.calls)).toBe(2);
    } finally {
      watcher.close();
    }
  });

  it('calls back when a Kubernetes ConfigMap mount swaps its ..data symlink', async () => {
    // The layout kubelet's atomic writer makes: a.yaml -> ..data/a.yaml, ..data -> ..v1.
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'a.yaml'), 'name: a\n');
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync(join('..data', 'a.yaml'), join(dir, 'a.yaml'));
    const watcher = watching([dir]);
    try {
      mkdirSync(join(dir, '..v2'));
      writeFileSync(join(dir, '..v2', 'a.yaml'), 'name: a\nenabled: false\n');
      symlinkSync('..v2', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      rmSync(join(dir, '..v1'), { recursive: true });
      expect(await settle(watcher.calls)).toBe(1);
    } finally {
      watcher.close();
    }
  });

  it('calls back for a file given by name, created after the start', async () => {
    const watcher = watching([join(dir, 'late.yaml')]);
    try {
      writeFileSync(join(dir, 'other.yaml'), 'name: other\n');
      expect(await settle(watcher.calls)).toBe(0);
      writeFileSync(join(dir, 'late.yaml'), 'name: late\n');
      expect(await settle(watcher.calls)).toBe(1);
    } finally {
      watcher.close();
    }
  });
});
