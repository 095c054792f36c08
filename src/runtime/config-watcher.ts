/**
 * Watches the connector files `tideline run` was given and calls back once
 * changes settle (debounced: an editor's save, a `cp` of several files or a
 * checkout is one reload, not one per event). Directories are watched, never
 * the files: editors save by writing a temporary file and renaming it over
 * the old one, which a watch on the old file would not see.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
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

const CONNECTOR_FILE = new Set(['.yaml', '.yml']);

/**
 * Which names in which directory matter: every connector file of a directory
 * given, or only the file given. Exported for its unit test.
 */
export function watchTargets(paths: readonly string[]): Map<string, { anyConnectorFile: boolean; names: Set<string> }> {
  const targets = new Map<string, { anyConnectorFile: boolean; names: Set<string> }>();
  const target = (directory: string) => {
    let entry = targets.get(directory);
    if (!entry) targets.set(directory, (entry = { anyConnectorFile: false, names: new Set() }));
    return entry;
  };
  for (const given of paths) {
    const path = resolve(given);
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // A file that does not exist (yet): watch for it in its directory.
    }
    if (isDirectory) target(path).anyConnectorFile = true;
    else target(dirname(path)).names.add(basename(path));
  }
  return targets;
}

export interface ConfigWatcher {
  close(): void;
}

export function watchConnectorFiles(paths: readonly string[], onChange: () => void, options: { debounceMs: number; logger: Logger }): ConfigWatcher {
  const debouncer = new Debouncer(options.debounceMs, onChange);
  const watchers: FSWatcher[] = [];
  const targets = watchTargets(paths);
  for (const [directory, target] of targets) {
    const relevant = (name: string | null): boolean =>
      // No name (some platforms): assume it mattered.
      name === null || target.names.has(name) || (target.anyConnectorFile && CONNECTOR_FILE.has(extname(name)));
    try {
      const watcher = watch(directory, { persistent: false }, (_event, name) => {
        if (relevant(name === null ? null : String(name))) debouncer.trigger();
      });
      watcher.on('error', (error) => {
        options.logger.warn({ err: error, directory, action: 'reload with SIGHUP, or restart the daemon to watch it again' }, 'stopped watching a connector directory');
        watcher.close();
      });
      watchers.push(watcher);
    } catch (error) {
      options.logger.warn({ err: error, directory, action: 'reload with SIGHUP' }, 'cannot watch a connector directory');
    }
  }
  options.logger.debug({ directories: [...targets.keys()], debounceMs: options.debounceMs }, 'watching connector files');
  return {
    close: () => {
      debouncer.cancel();
      for (const watcher of watchers) watcher.close();
    },
  };
}
