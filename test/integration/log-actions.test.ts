/**
 * Log lines a person acts on, from the real daemon process (JSON, since its
 * stdout is a pipe): a source whose PostgreSQL password is wrong logs its
 * failure with the connector's name and an action naming the password; a sink
 * whose ClickHouse port has nothing listening logs the outage with the action
 * to bring ClickHouse back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { TableFixture } from '../support/fixture.js';
import { eventually } from '../support/pipeline.js';

const fixture = new TableFixture('logact');
const { services, sourceName, sinkName } = fixture;
let daemon: DaemonProcess | undefined;

interface LogLine {
  level: string;
  connector?: string;
  kind?: string;
  msg: string;
  action?: string;
}

function lines(): LogLine[] {
  return (daemon?.log.join('') ?? '')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

describe('log lines with the action to take', () => {
  beforeAll(async () => {
    await fixture.create('id int PRIMARY KEY');
    const wrongPassword = new URL(services.pgUrl);
    wrongPassword.password = 'not-the-password';
    const closedPort = await freePort(); // nothing listens there
    const dir = fixture.connectorFiles({
      source: { url: wrongPassword.toString() },
      sink: { url: `http://127.0.0.1:${closedPort}` },
    });
    daemon = new DaemonProcess(dir, await freePort());
    await daemon.start({ healthy: false });
  }, 60_000);

  afterAll(async () => {
    await daemon?.stop();
    await fixture.cleanup();
  });

  it('names the connector and says to fix the password', async () => {
    const line = await eventually('the source\'s failure line', async () => lines().find((entry) => entry.connector === sourceName && entry.level === 'error'), 20_000);
    expect(line).toMatchObject({ kind: 'postgres-source', msg: 'connector failed; restarting after backoff' });
    expect(line.action).toMatch(/password in the connector's url/);
    expect(daemon?.log.join('')).not.toContain('not-the-password');
  });

  it('names the unreachable warehouse and says to bring it back', async () => {
    const line = await eventually('the sink\'s outage line', async () => lines().find((entry) => entry.connector === sinkName && /clickhouse unreachable/.test(entry.msg)), 20_000);
    expect(line).toMatchObject({ level: 'warn', kind: 'clickhouse-sink' });
    expect(line.action).toMatch(/^start ClickHouse \(the sink's url\).*retries by itself/);
  });
});
