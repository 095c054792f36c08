/**
 * Watches the connector files `tideline run` was given and calls back once
 * they changed and then stayed quiet (debounced: an editor's save, a `cp` of
 * several files or a checkout is one reload, not one per event).
 *
 * The directories are watched, never the files: editors save by renaming a
 * temporary file over the old one, and Kubernetes updates a mounted ConfigMap
 * by swapping a `..data` symlink; a watch on the old file sees neither. Every
 * event in a watched directory counts, whatever its name, and once quiet the
 * connector files' contents are compared with what was last seen: swap files,
 * notes and a save that changed nothing cause no reload.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { listConnectorFiles } from '../config/load.js';
import type { Logger } from '../core/logger.js';

export const DEFAULT_RELOAD_DEBOUNCE_MS = 500;

/** Calls `fire` once `delayMs` passed without another trigger(). */
export class Debouncer {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly delayMs: number, private readonly fire: () => void) {}

  trigger(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.fire();
    }, this.delayMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The directories to watch: each directory given, and the directory of each file given. */
export function watchedDirectories(paths: readonly string[]): string[] {
  const directories = new Set<string>();
  for (const given of paths) {
    const path = resolve(given);
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // A file that does not exist (yet): watch for it in its directory.
    }
    directories.add(isDirectory ? path : dirname(path));
  }
  return [...directories];
}

/** A hash of which connector files the paths hold and what they contain (read through symlinks). */
export function connectorFilesSignature(paths: readonly string[]): string {
  const hash = createHash('sha256');
  const { files, problems } = listConnectorFiles(paths);
  for (const problem of problems) hash.update(`problem\0${problem.file}\0${problem.message}\0`);
  for (const file of files) {
    hash.update(`file\0${file}\0`);
    try {
      hash.update(readFileSync(file));
    } catch (error) {
      hash.update(`unreadable\0${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    hash.update('\0');
  }
  return hash.digest('hex');
}

export interface ConfigWatcher {
  close(): void;
}

export function watchConnectorFiles(paths: readonly string[], onChange: () => void, options: { debounceMs: number; logger: Logger }): ConfigWatcher {
  let seen = connectorFilesSignature(paths);
  const debouncer = new Debouncer(options.debounceMs, () => {
    const now = connectorFilesSignature(paths);
    if (now === seen) return;
    seen = now;
    onChange();
  });
  const watchers: FSWatcher[] = [];
  const directories = watchedDirectories(paths);
  for (const directory of directories) {
    try {
      const watcher = watch(directory, { persistent: false }, () => debouncer.trigger());
      watcher.on('error', (error) => {
        options.logger.warn({ err: error, directory, action: 'reload with SIGHUP, or restart the daemon to watch it again' }, 'stopped watching a connector directory');
        watcher.close();
      });
      watchers.push(watcher);
    } catch (error) {
      options.logger.warn({ err: error, directory, action: 'reload with SIGHUP' }, 'cannot watch a connector directory');
    }
  }
  options.logger.debug({ directories, debounceMs: options.debounceMs }, 'watching connector files');
  return {
    close: () => {
      debouncer.cancel();
      for (const watcher of watchers) watcher.close();
    },
  };
}
