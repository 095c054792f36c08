/** The admin API's routing, token, error shape, Kafka Connect shapes and OpenAPI document, on a fake daemon. */
import { describe, expect, it } from 'vitest';
import type { StoredOffset } from '../../src/core/connector.js';
import { authorize, bindingProblem, isLoopback } from '../../src/runtime/admin/auth.js';
import { connectState, offsetsBody, type Insight } from '../../src/runtime/admin/connect-shapes.js';
import { AdminError } from '../../src/runtime/admin/errors.js';
import { openApiDocument } from '../../src/runtime/admin/openapi.js';
import { Router, type AdminResponse } from '../../src/runtime/admin/router.js';
import { adminRoutes, type AdminConnector } from '../../src/runtime/admin/routes.js';
import { SignalRefusedError, type ConnectorStatus, type RestartOutcome } from '../../src/runtime/supervisor.js';

const insight: Insight = { lag: { events: 3, seconds: null }, throughput: { per_second: 12.5, unit: 'rows written', total: 100 }, progress: null };

class FakeConnector implements AdminConnector {
  calls: string[] = [];
  state: ConnectorStatus['state'] = 'running';
  detail: string | undefined;
  constructor(
    readonly facts: AdminConnector['facts'],
    private readonly stored: StoredOffset[] = [],
  ) {}
  status(): ConnectorStatus {
    return { name: this.facts.name, kind: this.facts.kind, state: this.state, restarts: 0, since: '2026-01-01T00:00:00.000Z', ...(this.detail ? { detail: this.detail } : {}) };
  }
  lastError() {
    return this.state === 'failed' ? { message: 'boom', trace: 'Error: boom\n    at ingest (x.ts:1:1)', at: '2026-01-01T00:00:00.000Z' } : undefined;
  }
  unreachableServices(): string[] {
    return this.state === 'degraded' ? ['clickhouse'] : [];
  }
  async pause(): Promise<void> {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
  restart(): RestartOutcome {
    this.calls.push('restart');
    return 'restarting';
  }
  async offsets(): Promise<StoredOffset[]> {
    return this.stored;
  }
  async insight(): Promise<Insight> {
    return insight;
  }
  async sample(): Promise<void> {}
  async signal(type: string, data: unknown, id?: string): Promise<{ id: string; inserted: boolean }> {
    this.calls.push(`signal ${type} ${JSON.stringify(data)}`);
    if (this.facts.role !== 'source') throw new SignalRefusedError(`connector ${this.facts.name} (${this.facts.kind}) takes no signals`);
    return { id: id ?? 'api-1', inserted: true };
  }
}

function setup(token?: string) {
  const source = new FakeConnector(
    { name: 'pg', kind: 'postgres-source', role: 'source', format: 'avro', config: { url: 'postgres://app:s3cret@db/app', slot: 's', password: 'hunter2' } },
    [{ type: 'source', partition: { connector: 'pg' }, offset: { lsn: '0/16B3748', txId: 7 } }],
  );
  const sink = new FakeConnector({ name: 'ch', kind: 'clickhouse-sink', role: 'sink', format: 'avro', config: { url: 'http://ch:8123', topics: ['t'] } }, [{ type: 'kafka', topic: 't', partition: 0, offset: '42' }]);
  const router = new Router(adminRoutes({ workerId: () => 'host-a:8089', connectors: () => [source, sink] }), token);
  const call = (method: string, url: string, authorization?: string, body?: string): Promise<AdminResponse> => router.handle({ method, url, authorization, body });
  return { source, sink, router, call };
}

describe('admin API routes', () => {
  it('lists connector names as Kafka Connect does, and expands status and info by name', async () => {
    const { call } = setup();
    expect((await call('GET', '/connectors')).body).toEqual(['pg', 'ch']);
    const expanded = (await call('GET', '/connectors?expand=status&expand=info')).body as Record<string, { status: { connector: { state: string } }; info: { type: string } }>;
    expect(Object.keys(expanded)).toEqual(['pg', 'ch']);
    expect(expanded.pg!.status.connector.state).toBe('RUNNING');
    expect(expanded.ch!.info.type).toBe('sink');
    const onlyInfo = (await call('GET', '/connectors?expand=info')).body as Record<string, object>;
    expect(Object.keys(onlyInfo.pg!)).toEqual(['info']);
    expect((await call('GET', '/connectors?expand=everything')).status).toBe(400);
  });

  it('shows a connector with its config and secrets masked', async () => {
    const { call } = setup();
    const info = (await call('GET', '/connectors/pg')).body as { name: string; type: string; tasks: unknown[]; config: Record<string, unknown> };
    expect(info).toMatchObject({ name: 'pg', type: 'source', tasks: [{ connector: 'pg', task: 0 }] });
    expect(info.config).toEqual({ 'connector.class': 'postgres-source', name: 'pg', format: 'avro', url: 'postgres://app:***@db/app', slot: 's', password: '***' });
    expect((await call('GET', '/connectors/pg/config')).body).toEqual(info.config);
    expect(JSON.stringify(info)).not.toMatch(/s3cret|hunter2/);
  });

  it('gives the status in Kafka Connect\'s shape with tideline\'s extras, and the trace when FAILED', async () => {
    const { call, sink } = setup();
    let status = (await call('GET', '/connectors/ch/status')).body as Record<string, unknown>;
    expect(status).toMatchObject({
      name: 'ch',
      connector: { state: 'RUNNING', worker_id: 'host-a:8089' },
      tasks: [{ id: 0, state: 'RUNNING', worker_id: 'host-a:8089' }],
      type: 'sink',
      tideline: { kind: 'clickhouse-sink', state: 'running', degraded: false, lag: { events: 3 }, throughput: { per_second: 12.5 } },
    });
    sink.state = 'degraded';
    sink.detail = 'clickhouse unreachable since 2026-01-01T00:00:00.000Z: ECONNREFUSED';
    status = (await call('GET', '/connectors/ch/status')).body as Record<string, unknown>;
    expect(status).toMatchObject({ connector: { state: 'RUNNING' }, tideline: { state: 'degraded', degraded: true, unreachable_services: ['clickhouse'], detail: sink.detail } });
    sink.state = 'failed';
    status = (await call('GET', '/connectors/ch/status')).body as Record<string, unknown>;
    expect(status).toMatchObject({ connector: { state: 'FAILED', trace: expect.stringMatching(/^Error: boom\n\s+at ingest/) }, tasks: [{ state: 'FAILED', trace: expect.any(String) }], tideline: { last_error: { message: 'boom' } } });
  });

  it('maps every tideline state to a Kafka Connect state', () => {
    expect(['starting', 'running', 'degraded', 'restarting', 'paused', 'failed', 'stopped'].map((state) => connectState(state as ConnectorStatus['state']))).toEqual([
      'UNASSIGNED',
      'RUNNING',
      'RUNNING',
      'RESTARTING',
      'PAUSED',
      'FAILED',
      'STOPPED',
    ]);
  });

  it('shows offsets in Kafka Connect 3.6\'s shape', async () => {
    const { call } = setup();
    expect((await call('GET', '/connectors/pg/offsets')).body).toEqual({ offsets: [{ partition: { connector: 'pg' }, offset: { lsn: '0/16B3748', txId: 7 } }] });
    expect((await call('GET', '/connectors/ch/offsets')).body).toEqual({ offsets: [{ partition: { kafka_topic: 't', kafka_partition: 0 }, offset: { kafka_offset: 42 } }] });
    expect(offsetsBody([])).toEqual({ offsets: [] });
  });

  it('pauses and resumes with 202, restarts with 204, or 202 and the status with Kafka Connect\'s parameters', async () => {
    const { call, sink } = setup();
    expect((await call('PUT', '/connectors/ch/pause')).status).toBe(202);
    expect((await call('PUT', '/connectors/ch/resume')).status).toBe(202);
    expect((await call('POST', '/connectors/ch/restart')).status).toBe(204);
    const withTasks = await call('POST', '/connectors/ch/restart?includeTasks=true');
    expect(withTasks.status).toBe(202);
    expect(withTasks.body).toMatchObject({ connector: { state: 'RESTARTING' }, tasks: [{ id: 0, state: 'RESTARTING' }] });
    // onlyFailed on a running connector restarts nothing.
    const onlyFailed = await call('POST', '/connectors/ch/restart?onlyFailed=true');
    expect(onlyFailed.body).toMatchObject({ connector: { state: 'RUNNING' } });
    expect(sink.calls).toEqual(['pause', 'resume', 'restart', 'restart']);
    sink.state = 'failed';
    expect((await call('POST', '/connectors/ch/restart?onlyFailed=true&includeTasks=true')).body).toMatchObject({ connector: { state: 'RESTARTING' } });
    expect(sink.calls.at(-1)).toBe('restart');
    expect((await call('POST', '/connectors/ch/restart?onlyFailed=yes')).status).toBe(400);
    sink.state = 'paused';
    const paused = await call('POST', '/connectors/ch/restart');
    expect(paused).toMatchObject({ status: 409, body: { error_code: 409, message: expect.stringContaining('is paused') } });
  });

  it('answers errors as {error_code, message}: 404 naming the connector, 404 for unknown paths, 405 with Allow', async () => {
    const { call } = setup();
    expect(await call('GET', '/connectors/nope/status')).toMatchObject({ status: 404, body: { error_code: 404, message: 'Connector nope not found' } });
    expect(await call('PUT', '/connectors/nope/pause')).toMatchObject({ status: 404 });
    expect(await call('GET', '/nothing')).toMatchObject({ status: 404, body: { error_code: 404 } });
    expect(await call('DELETE', '/connectors/pg')).toMatchObject({ status: 405, headers: { allow: 'GET' }, body: { error_code: 405 } });
    expect(await call('GET', '/connectors/pg/pause')).toMatchObject({ status: 405, headers: { allow: 'PUT' } });
    expect(await call('PUT', '/connectors/pg/config')).toMatchObject({ status: 405 });
  });

  it('keeps /healthz as it was, counting a paused connector as healthy', async () => {
    const { call, sink } = setup();
    expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { healthy: true, connectors: [{ name: 'pg', state: 'running' }, { name: 'ch', state: 'running' }] } });
    sink.state = 'paused';
    expect((await call('GET', '/healthz')).status).toBe(200);
    sink.state = 'degraded';
    expect(await call('GET', '/healthz')).toMatchObject({ status: 503, body: { healthy: false } });
    const metrics = await call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('tideline_connector_up');
  });
});

describe('admin API token', () => {
  it('refuses requests without the bearer token or with another one, with 401 JSON', async () => {
    const { call } = setup('t0ken');
    for (const authorization of [undefined, 'Bearer wrong', 'Basic dDBrZW4=', 't0ken', 'Bearer t0ken2']) {
      const response = await call('GET', '/connectors', authorization);
      expect(response, String(authorization)).toMatchObject({ status: 401, headers: { 'www-authenticate': expect.stringContaining('Bearer') }, body: { error_code: 401 } });
    }
    // Every endpoint, even an unknown one, answers 401 first: nothing is told to a caller without the token.
    expect((await call('GET', '/metrics')).status).toBe(401);
    expect((await call('GET', '/nothing')).status).toBe(401);
    expect((await call('GET', '/connectors', 'Bearer t0ken')).status).toBe(200);
    expect((await call('GET', '/connectors', 'bearer   t0ken')).status).toBe(200);
  });

  it('passes every request when no token is set', () => {
    expect(() => authorize(undefined, undefined)).not.toThrow();
    expect(() => authorize(undefined, 'x')).toThrow(AdminError);
  });

  it('knows loopback addresses and refuses any other without a token', () => {
    for (const host of ['127.0.0.1', '127.0.0.53', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.com', '128.0.0.1']) expect(isLoopback(host), host).toBe(false);
    expect(bindingProblem('127.0.0.1', undefined)).toBeUndefined();
    expect(bindingProblem('0.0.0.0', 'secret')).toBeUndefined();
    expect(bindingProblem('0.0.0.0', undefined)).toMatch(/refusing to serve the admin API on 0\.0\.0\.0.*TIDELINE_ADMIN_TOKEN/);
  });
});

describe('admin API OpenAPI document', () => {
  it('describes exactly the routes the router serves, with their methods and path parameters', async () => {
    const { router, call } = setup();
    const document = (await call('GET', '/openapi.json')).body as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string; in: string }[] }>> };
    expect(document).toEqual(openApiDocument());
    expect(document.openapi).toMatch(/^3\./);
    const served = router.templates.map(({ method, path }) => `${method} ${path}`).sort();
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(documented).toEqual(served);
    for (const [path, operations] of Object.entries(document.paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      for (const operation of Object.values(operations)) {
        expect((operation.parameters ?? []).filter((parameter) => parameter.in === 'path').map((parameter) => parameter.name)).toEqual(inPath);
      }
    }
    // Every operation documents the token's refusal.
    for (const operations of Object.values(document.paths)) for (const operation of Object.values(operations) as { responses: Record<string, unknown> }[]) expect(operation.responses).toHaveProperty('401');
    // Every $ref points at a schema that exists.
    const schemas = (openApiDocument().components as { schemas: Record<string, unknown> }).schemas;
    for (const [, name] of JSON.stringify(document).matchAll(/"#\/components\/schemas\/(\w+)"/g)) expect(schemas, name).toHaveProperty(name!);
  });

  it('hands a signal to the connector: 202 with its id, 400 for a body that is no signal, 409 for a connector that takes none', async () => {
    const { source, call } = setup();
    const sent = await call('POST', '/connectors/pg/signals', undefined, '{"type":"execute-snapshot","data":{"data-collections":["public.t"]}}');
    expect(sent).toMatchObject({ status: 202, body: { id: 'api-1', inserted: true } });
    expect(source.calls).toEqual(['signal execute-snapshot {"data-collections":["public.t"]}']);
    expect(await call('POST', '/connectors/pg/signals', undefined, 'not json')).toMatchObject({ status: 400, body: { error_code: 400, message: expect.stringContaining('must be JSON') } });
    expect(await call('POST', '/connectors/pg/signals', undefined, '{"data":{}}')).toMatchObject({ status: 400 });
    expect(await call('POST', '/connectors/ch/signals', undefined, '{"type":"stop-snapshot"}')).toMatchObject({ status: 409, body: { message: expect.stringContaining('takes no signals') } });
    expect(await call('POST', '/connectors/nobody/signals', undefined, '{"type":"stop-snapshot"}')).toMatchObject({ status: 404 });
  });
});
