// The daemon's format resolution: a connector file's `format`, else the
// daemon's (--format / TIDELINE_FORMAT), else DEFAULT_FORMAT (avro); a
// daemon given no registry makes its in-memory one only when a connector's
// resolved format registers schemas.
import { describe, expect, it } from 'vitest';
import type { ConnectorDefinition } from '../../src/config/load.js';
import type { Logger } from '../../src/core/logger.js';
import { Daemon } from '../../src/runtime/daemon.js';
import { DEFAULT_FORMAT, type FormatName } from '../../src/serde/index.js';

function recordingLogger(warnings: string[]): Logger {
  const logger = {
    warn: (...args: unknown[]) => warnings.push(String(args.find((arg) => typeof arg === 'string'))),
    info: () => undefined,
    debug: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return logger as unknown as Logger;
}

function definition(format?: FormatName): ConnectorDefinition {
  return {
    file: 'c.yaml',
    name: 'c',
    kind: 'clickhouse-sink',
    enabled: true,
    kafka: { brokers: ['127.0.0.1:9'], ssl: false },
    ...(format ? { format } : {}),
    config: {},
    spec: {} as ConnectorDefinition['spec'],
  };
}

function inMemoryRegistryWarnings(file: FormatName | undefined, daemon: FormatName | undefined): number {
  const warnings: string[] = [];
  new Daemon([definition(file)], recordingLogger(warnings), { adminHost: '127.0.0.1', adminPort: -1, format: daemon });
  return warnings.filter((warning) => warning.includes('in-memory registry')).length;
}

describe('Daemon format', () => {
  it('is avro by default', () => {
    expect(DEFAULT_FORMAT).toBe('avro');
    // No format anywhere: avro, which needs a registry; given none, the daemon makes its in-memory one.
    expect(inMemoryRegistryWarnings(undefined, undefined)).toBe(1);
  });

  it("takes the daemon's format, and the file's over it", () => {
    expect(inMemoryRegistryWarnings(undefined, 'json')).toBe(0);
    expect(inMemoryRegistryWarnings('json', 'avro')).toBe(0);
    expect(inMemoryRegistryWarnings('avro', 'json')).toBe(1);
  });
});
