/**
 * The REST subset of Confluent's Schema Registry: routes, bodies and error
 * codes, over a service whose state is the registry's own (RegistryState,
 * fed directly instead of through Kafka).
 */
import { describe, expect, it } from 'vitest';
import { canonicalSchema, parseAvroSchema, type CompatibilityLevel } from '../../src/registry/compatibility.js';
import { handleRegistryRequest } from '../../src/registry/rest-api.js';
import type { RegistryService, VersionRef } from '../../src/registry/registry-service.js';
import { RegistryState, type SubjectVersion } from '../../src/registry/registry-state.js';
import { IncompatibleSchemaError, SchemaNotFoundError } from '../../src/registry/schema-registry.js';
import { REQUIRED_ADDED, V1, V2 } from '../support/registry-schemas.js';

/** The embedded registry's answers (its RegistryState), without Kafka: records applied directly. */
class StateService implements RegistryService {
  readonly state = new RegistryState();
  private claims = 0;

  async register(subject: string, schema: string): Promise<number> {
    const canonical = canonicalSchema(schema);
    parseAvroSchema(canonical);
    const claim = `c${++this.claims}`;
    this.state.apply({ type: 'register', claim, subject, schema: canonical });
    const outcome = this.state.outcome(claim)!;
    if (!outcome.accepted) throw new IncompatibleSchemaError(subject, outcome.problems.join('; '));
    return (outcome as { id: number }).id;
  }
  async schemaById(id: number): Promise<string> {
    const schema = this.state.schemaById(id);
    if (schema === undefined) throw new SchemaNotFoundError(id);
    return schema;
  }
  async lookup(subject: string, schema: string): Promise<SubjectVersion> {
    return this.state.findSchema(subject, canonicalSchema(schema));
  }
  async subjects(): Promise<string[]> {
    return this.state.subjectNames();
  }
  async versions(subject: string): Promise<number[]> {
    return this.state.versionNumbers(subject);
  }
  async version(subject: string, version: VersionRef): Promise<SubjectVersion> {
    return this.state.findVersion(subject, version);
  }
  async compatibilityProblems(subject: string, schema: string, version?: VersionRef): Promise<string[]> {
    return this.state.compatibilityWith(subject, canonicalSchema(schema), version);
  }
  async compatibility(subject: string | null): Promise<CompatibilityLevel | undefined> {
    return subject === null ? this.state.globalCompatibility : this.state.subjectLevel(subject);
  }
  async setCompatibility(subject: string | null, level: CompatibilityLevel): Promise<void> {
    this.state.apply({ type: 'config', claim: `c${++this.claims}`, subject, compatibility: level });
  }
}

function api(service: RegistryService) {
  return (method: string, url: string, body?: unknown) =>
    handleRegistryRequest(service, { method, url, body: body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body) });
}

describe('registry REST API', () => {
  it('registers, looks up and serves schemas by id, subject and version', async () => {
    const call = api(new StateService());
    expect(await call('POST', '/subjects/orders-value/versions', { schema: V1 })).toEqual({ status: 200, body: { id: 1 } });
    expect(await call('POST', '/subjects/orders-value/versions?normalize=false', { schema: V2, schemaType: 'AVRO' })).toEqual({ status: 200, body: { id: 2 } });
    expect(await call('POST', '/subjects/orders-key/versions', { schema: V1 })).toEqual({ status: 200, body: { id: 1 } });

    expect(await call('GET', '/schemas/ids/2?subject=orders-value')).toEqual({ status: 200, body: { schema: V2 } });
    expect(await call('GET', '/schemas/ids/2/schema')).toEqual({ status: 200, body: V2 });
    expect(await call('GET', '/subjects')).toEqual({ status: 200, body: ['orders-key', 'orders-value'] });
    expect(await call('GET', '/subjects/orders-value/versions')).toEqual({ status: 200, body: [1, 2] });
    expect(await call('GET', '/subjects/orders-value/versions/latest')).toEqual({ status: 200, body: { subject: 'orders-value', id: 2, version: 2, schema: V2 } });
    expect(await call('GET', '/subjects/orders-value/versions/1')).toEqual({ status: 200, body: { subject: 'orders-value', id: 1, version: 1, schema: V1 } });
    expect(await call('GET', '/subjects/orders-value/versions/-1/schema')).toEqual({ status: 200, body: V2 });
    // Lookup matches whatever the whitespace.
    const spaced = JSON.stringify(JSON.parse(V1), null, 2);
    expect(await call('POST', '/subjects/orders-value', { schema: spaced })).toEqual({ status: 200, body: { subject: 'orders-value', id: 1, version: 1, schema: V1 } });
    expect(await call('GET', '/schemas/types')).toEqual({ status: 200, body: ['AVRO'] });
  });

  it('decodes subjects with slashes and spaces from the path', async () => {
    const call = api(new StateService());
    expect((await call('POST', `/subjects/${encodeURIComponent('a/b c')}/versions`, { schema: V1 })).status).toBe(200);
    expect(await call('GET', '/subjects')).toEqual({ status: 200, body: ['a/b c'] });
  });

  it("answers Confluent's error codes", async () => {
    const call = api(new StateService());
    await call('POST', '/subjects/s/versions', { schema: V1 });
    const error = (status: number, code: number) => ({ status, body: { error_code: code, message: expect.any(String) } });
    expect(await call('GET', '/subjects/nope/versions')).toEqual(error(404, 40401));
    expect(await call('GET', '/subjects/nope/versions/1')).toEqual(error(404, 40401));
    expect(await call('POST', '/subjects/nope', { schema: V1 })).toEqual(error(404, 40401));
    expect(await call('GET', '/subjects/s/versions/7')).toEqual(error(404, 40402));
    expect(await call('GET', '/schemas/ids/99')).toEqual(error(404, 40403));
    expect(await call('GET', '/schemas/ids/abc')).toEqual(error(404, 40403));
    expect(await call('POST', '/subjects/s', { schema: V2 })).toEqual(error(404, 40403));
    expect(await call('GET', '/config/s')).toEqual(error(404, 40408));
    expect(await call('POST', '/subjects/s/versions', { schema: REQUIRED_ADDED })).toEqual(error(409, 409));
    expect(await call('POST', '/subjects/s/versions', { schema: '{"type":"record","name":"X"}' })).toEqual(error(422, 42201));
    expect(await call('POST', '/subjects/s/versions', { schema: 'not json' })).toEqual(error(422, 42201));
    expect(await call('POST', '/subjects/s/versions', { schema: V1, schemaType: 'PROTOBUF' })).toEqual(error(422, 42201));
    expect(await call('POST', '/subjects/s/versions', { schema: V1, references: [{ name: 'x', subject: 'y', version: 1 }] })).toEqual(error(422, 42201));
    expect(await call('POST', '/subjects/s/versions', {})).toEqual(error(422, 42201));
    expect(await call('POST', '/subjects/s/versions', '{oops')).toEqual(error(422, 422));
    expect(await call('GET', '/subjects/s/versions/0')).toEqual(error(422, 42202));
    expect(await call('GET', '/subjects/s/versions/one')).toEqual(error(422, 42202));
    expect(await call('PUT', '/config', { compatibility: 'SIDEWAYS' })).toEqual(error(422, 42203));
    expect(await call('DELETE', '/subjects/s')).toEqual(error(405, 405));
    expect(await call('GET', '/nowhere')).toEqual(error(404, 404));
  });

  it('reports a store failure as 500 / 50001', async () => {
    const service = new StateService();
    service.subjects = () => Promise.reject(new Error('Kafka is away'));
    expect(await api(service)('GET', '/subjects')).toEqual({ status: 500, body: { error_code: 50001, message: expect.stringContaining('Kafka is away') } });
  });

  it('tests compatibility against a version, the latest, or by the level', async () => {
    const call = api(new StateService());
    expect(await call('POST', '/compatibility/subjects/s/versions/latest', { schema: V1 })).toEqual({ status: 200, body: { is_compatible: true } });
    await call('POST', '/subjects/s/versions', { schema: V1 });
    expect(await call('POST', '/compatibility/subjects/s/versions/latest', { schema: V2 })).toEqual({ status: 200, body: { is_compatible: true } });
    expect(await call('POST', '/compatibility/subjects/s/versions/1?verbose=true', { schema: REQUIRED_ADDED })).toEqual({
      status: 200,
      body: { is_compatible: false, messages: [expect.stringContaining('cannot read data written with version 1')] },
    });
    expect(await call('POST', '/compatibility/subjects/s/versions', { schema: REQUIRED_ADDED })).toEqual({ status: 200, body: { is_compatible: false } });
    expect((await call('POST', '/compatibility/subjects/s/versions/3', { schema: V2 })).body).toMatchObject({ error_code: 40402 });
  });

  it('reads and sets the compatibility levels, BACKWARD by default', async () => {
    const call = api(new StateService());
    expect(await call('GET', '/config')).toEqual({ status: 200, body: { compatibilityLevel: 'BACKWARD' } });
    expect(await call('PUT', '/config', { compatibility: 'FULL' })).toEqual({ status: 200, body: { compatibility: 'FULL' } });
    expect(await call('GET', '/config/s?defaultToGlobal=true')).toEqual({ status: 200, body: { compatibilityLevel: 'FULL' } });
    expect(await call('PUT', '/config/s', { compatibility: 'NONE' })).toEqual({ status: 200, body: { compatibility: 'NONE' } });
    expect(await call('GET', '/config/s')).toEqual({ status: 200, body: { compatibilityLevel: 'NONE' } });
    expect(await call('GET', '/config')).toEqual({ status: 200, body: { compatibilityLevel: 'FULL' } });
    await call('POST', '/subjects/s/versions', { schema: V1 });
    expect((await call('POST', '/subjects/s/versions', { schema: REQUIRED_ADDED })).status).toBe(200);
  });
});
