import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/core/logger.js';
import { Debouncer, watchConnectorFiles, watchTargets } from '../../src/runtime/config-watcher.js';

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

  it('watches the directory of a file given alone, for that name only', () => {
    writeFileSync(join(dir, 'a.yaml'), '');
    expect([...watchTargets([dir, join(dir, 'a.yaml'), join(dir, 'missing.yml')])]).toEqual([[dir, { anyConnectorFile: true, names: new Set(['a.yaml', 'missing.yml']) }]]);
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

  it("calls back once for an editor's save (temporary file renamed over the old one), and not for other files", async () => {
    writeFileSync(join(dir, 'a.yaml'), 'name: a\n');
    let calls = 0;
    const watcher = watchConnectorFiles([dir], () => (calls += 1), { debounceMs: 100, logger: createLogger({ level: 'silent' }) });
    try {
      writeFileSync(join(dir, '.a.yaml.swp'), 'x');
      writeFileSync(join(dir, 'notes.txt'), 'x');
      expect(await settle(() => calls)).toBe(0);
      writeFileSync(join(dir, 'a.yaml.tmp'), 'name: a\nenabled: true\n');
      renameSync(join(dir, 'a.yaml.tmp'), join(dir, 'a.yaml'));
      expect(await settle(() => calls)).toBe(1);
      writeFileSync(join(dir, 'b.yml'), 'name: b\n');
      rmSync(join(dir, 'a.yaml'));
      expect(await settle(() => calls)).toBe(2);
    } finally {
      watcher.close();
    }
  });
});
