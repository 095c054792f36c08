/** Which registry the daemon uses, from flags and environment; secrets only from the environment. */
import { describe, expect, it } from 'vitest';
import { describeRegistry, registrySettings } from '../../src/registry/settings.js';

describe('registry settings', () => {
  it('defaults to the embedded registry on _schemas, in-process only', () => {
    expect(registrySettings({}, {})).toEqual({ kind: 'embedded', topic: '_schemas', credentials: undefined });
  });

  it('serves the embedded registry when a port is given, on 127.0.0.1 unless told', () => {
    const settings = registrySettings({ registry: 'embedded', registryPort: '8081', registryBrokers: 'k1:9092, k2:9092', registryTopic: 'my_schemas' }, {});
    expect(settings).toEqual({
      kind: 'embedded',
      topic: 'my_schemas',
      kafka: { brokers: ['k1:9092', 'k2:9092'], ssl: false },
      serve: { host: '127.0.0.1', port: 8081 },
      credentials: undefined,
    });
    expect(registrySettings({ registryPort: '-1' }, {})).not.toHaveProperty('serve');
    expect(registrySettings({}, { TIDELINE_REGISTRY_PORT: '0', TIDELINE_REGISTRY_HOST: '0.0.0.0' })).toMatchObject({ serve: { host: '0.0.0.0', port: 0 } });
    expect(() => registrySettings({ registryPort: '80x' }, {})).toThrow('--registry-port (or TIDELINE_REGISTRY_PORT): "80x" is not a port number');
  });

  it("takes the registry's Kafka TLS and SASL from flags and environment", () => {
    const env = { TIDELINE_KAFKA_SASL_MECHANISM: 'scram-sha-512', TIDELINE_KAFKA_SASL_USERNAME: 'reg', TIDELINE_KAFKA_SASL_PASSWORD: 'pw' };
    expect(registrySettings({ registryBrokers: 'k:9093', kafkaSsl: true }, env)).toMatchObject({
      kafka: { brokers: ['k:9093'], ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'reg', password: 'pw' } },
    });
    expect(() => registrySettings({ registryBrokers: 'k:9093' }, { TIDELINE_KAFKA_SASL_MECHANISM: 'kerberos' })).toThrow(/TIDELINE_KAFKA_SASL_\*\): sasl\.mechanism: /);
    expect(() => registrySettings({ registryBrokers: 'k:9093' }, { TIDELINE_KAFKA_SASL_MECHANISM: 'plain', TIDELINE_KAFKA_SASL_USERNAME: 'u' })).toThrow(/sasl\.password/);
  });

  it('takes a URL from the flag or TIDELINE_REGISTRY_URL, the password from the environment only', () => {
    const env = { TIDELINE_REGISTRY_URL: 'https://sr.example:8081', TIDELINE_REGISTRY_USERNAME: 'svc', TIDELINE_REGISTRY_PASSWORD: 'pw' };
    expect(registrySettings({}, env)).toEqual({ kind: 'url', url: 'https://sr.example:8081', credentials: { username: 'svc', password: 'pw' } });
    expect(registrySettings({ registry: 'http://other:8081', registryUsername: 'me' }, env)).toEqual({
      kind: 'url',
      url: 'http://other:8081',
      credentials: { username: 'me', password: 'pw' },
    });
    expect(() => registrySettings({}, { TIDELINE_REGISTRY_PASSWORD: 'pw' })).toThrow(/no registry user name/);
  });

  it('refuses what is neither embedded nor an http(s) URL, without echoing credentials', () => {
    expect(() => registrySettings({ registry: 'kafka://x' }, {})).toThrow('kafka: is not http: or https:');
    expect(() => registrySettings({ registry: 'embeded' }, {})).toThrow('expected "embedded" or an http(s) URL, got "embeded"');
    expect(() => registrySettings({ registry: '//u:secret@' }, {})).toThrow(expect.objectContaining({ message: expect.not.stringContaining('secret') }));
  });

  it('describes the registry without its password', () => {
    expect(describeRegistry({ kind: 'url', url: 'http://u:secret@sr:8081/' })).toBe('http://sr:8081 (basic auth)');
    expect(describeRegistry({ kind: 'embedded', topic: '_schemas', serve: { host: '127.0.0.1', port: 8081 } })).toBe('embedded on topic _schemas, served on http://127.0.0.1:8081');
  });
});
