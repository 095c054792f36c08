/** The registry options of the `tideline` command: mistakes are refused before anything starts. */
import { describe, expect, it } from 'vitest';
import { tideline } from '../support/cli.js';

describe('tideline registry / run --registry', () => {
  it('run refuses a registry that is neither embedded nor an http(s) URL, with exit code 2', async () => {
    const result = await tideline(['run', 'connectors', '--admin-port', '-1', '--registry', 'kafka://u:secret@x:9092'], { TIDELINE_REGISTRY_URL: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--registry (or TIDELINE_REGISTRY_URL): kafka: is not http: or https:');
    expect(result.stderr + result.stdout).not.toContain('secret');
  }, 60_000);

  it('registry needs Kafka brokers and a port number', async () => {
    const noBrokers = await tideline(['registry'], { TIDELINE_KAFKA_BROKERS: '' });
    expect(noBrokers.code).toBe(1);
    expect(noBrokers.stderr).toContain('no Kafka brokers: pass --brokers or set TIDELINE_KAFKA_BROKERS');
    const badPort = await tideline(['registry', '--brokers', '127.0.0.1:1', '--port', 'http']);
    expect(badPort.code).toBe(2);
    expect(badPort.stderr).toContain('--port: "http" is not a port number');
  }, 60_000);

  it('registry --help names its defaults', async () => {
    const help = await tideline(['registry', '--help'], { TIDELINE_REGISTRY_PORT: '', TIDELINE_REGISTRY_TOPIC: '' });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--port <port>');
    expect(help.stdout).toContain('"8081"');
    expect(help.stdout).toContain('"_schemas"');
  }, 60_000);
});
