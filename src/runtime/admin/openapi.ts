/**
 * The OpenAPI 3 document of the admin API, served at /openapi.json. Written
 * by hand; test/unit/admin-api.test.ts checks that it lists exactly the
 * routes the router serves.
 */
const name = { name: 'name', in: 'path', required: true, description: 'The connector\'s name (its file\'s `name`).', schema: { type: 'string' } };

const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const ok = (description: string, schema: unknown) => ({ description, content: { 'application/json': { schema } } });
const ref = (schema: string) => ({ $ref: `#/components/schemas/${schema}` });

const notFound = error('No connector of that name.');

/** Every operation may answer 401 when the daemon has a token. */
type Operation = { responses: Record<string, unknown> } & Record<string, unknown>;

function withUnauthorized(paths: Record<string, Record<string, Operation>>): typeof paths {
  for (const operations of Object.values(paths)) {
    for (const operation of Object.values(operations)) operation.responses[401] = { $ref: '#/components/responses/Unauthorized' };
  }
  return paths;
}

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'tideline admin API',
      version: '1',
      description:
        "The daemon's admin API, shaped after Kafka Connect's REST API. Each connector runs as one unit, shown as task 0. " +
        'When the daemon has TIDELINE_ADMIN_TOKEN, every request needs `Authorization: Bearer <token>`. Errors are `{error_code, message}`.',
    },
    security: [{ bearer: [] }],
    paths: withUnauthorized({
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/healthz': {
        get: {
          summary: 'Health: 200 when every connector is running (or paused on purpose), 503 otherwise',
          responses: { 200: ok('Healthy', ref('Health')), 503: ok('Not every connector is running', ref('Health')) },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { 200: ok('OpenAPI 3 document', { type: 'object' }) } } },
      '/connectors': {
        get: {
          summary: 'The connectors: their names, or with expand=status and/or expand=info an object by name',
          parameters: [{ name: 'expand', in: 'query', required: false, schema: { type: 'array', items: { type: 'string', enum: ['status', 'info'] } }, style: 'form', explode: true }],
          responses: {
            200: ok('Names, or {name: {status?, info?}}', {
              oneOf: [{ type: 'array', items: { type: 'string' } }, { type: 'object', additionalProperties: { type: 'object', properties: { status: ref('Status'), info: ref('Info') } } }],
            }),
            400: error('Unknown expand value'),
          },
        },
      },
      '/connectors/{name}': { get: { summary: 'Name, type, config (secrets masked) and tasks', parameters: [name], responses: { 200: ok('The connector', ref('Info')), 404: notFound } } },
      '/connectors/{name}/status': {
        get: {
          summary: 'State (RUNNING, PAUSED, FAILED with the trace, UNASSIGNED, RESTARTING, STOPPED), worker and tideline\'s extras: lag, throughput, progress, last error',
          parameters: [name],
          responses: { 200: ok('Status', ref('Status')), 404: notFound },
        },
      },
      '/connectors/{name}/config': { get: { summary: 'The config, secrets masked', parameters: [name], responses: { 200: ok('Config', ref('Config')), 404: notFound } } },
      '/connectors/{name}/offsets': {
        get: {
          summary: "Stored offsets (Kafka Connect 3.6's shape): a source's position; a sink's or processor's next offset per input partition",
          parameters: [name],
          responses: { 200: ok('Offsets', ref('Offsets')), 404: notFound, 503: error('The store of the offsets could not be read') },
        },
      },
      '/connectors/{name}/pause': {
        put: { summary: 'Stop the connector\'s run until resumed (state PAUSED once stopped); nothing is lost', parameters: [name], responses: { 202: { description: 'Pausing' }, 404: notFound } },
      },
      '/connectors/{name}/resume': {
        put: { summary: 'Start a paused connector again from its stored position', parameters: [name], responses: { 202: { description: 'Resuming' }, 404: notFound } },
      },
      '/connectors/{name}/restart': {
        post: {
          summary: "End the connector's run and start a fresh one now (a failed connector waiting out its backoff starts at once)",
          parameters: [
            name,
            { name: 'includeTasks', in: 'query', required: false, schema: { type: 'boolean', default: false }, description: 'Accepted for Kafka Connect clients: the one task is the connector\'s run.' },
            { name: 'onlyFailed', in: 'query', required: false, schema: { type: 'boolean', default: false }, description: 'Restart only if the connector is FAILED.' },
          ],
          responses: {
            202: ok('Restarting (either parameter given): the status, RESTARTING where a restart was made', ref('Status')),
            204: { description: 'Restarting (no parameter)' },
            400: error('A parameter is not true or false'),
            404: notFound,
            409: error('The connector is paused (resume it) or the daemon is stopping'),
          },
        },
      },
      '/connectors/{name}/signals': {
        post: {
          summary: 'Send a Debezium signal (execute-snapshot, stop-snapshot, pause-snapshot, resume-snapshot) to a source with a signalTable; it acts in stream order',
          parameters: [name],
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['type'],
                  properties: { type: { type: 'string' }, data: { type: 'object', additionalProperties: true }, id: { type: 'string', description: 'Defaults to a new one; the same id twice acts once' } },
                },
              },
            },
          },
          responses: {
            202: ok('Inserted into the signal table', { type: 'object', properties: { id: { type: 'string' }, inserted: { type: 'boolean' } } }),
            400: error('Not JSON, no type, or a signal the source refuses'),
            404: notFound,
            409: error('The connector takes no signals or is not running'),
          },
        },
      },
    }),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Needed only when the daemon has TIDELINE_ADMIN_TOKEN.' } },
      responses: { Unauthorized: error('Missing or wrong bearer token') },
      schemas: {
        Error: { type: 'object', required: ['error_code', 'message'], properties: { error_code: { type: 'integer' }, message: { type: 'string' } } },
        Health: {
          type: 'object',
          properties: {
            healthy: { type: 'boolean' },
            connectors: {
              type: 'array',
              items: {
                type: 'object',
                properties: { name: { type: 'string' }, kind: { type: 'string' }, state: { type: 'string' }, detail: { type: 'string' }, restarts: { type: 'integer' }, since: { type: 'string', format: 'date-time' } },
              },
            },
          },
        },
        Config: { type: 'object', additionalProperties: true, properties: { 'connector.class': { type: 'string' }, name: { type: 'string' }, format: { type: 'string' } } },
        Info: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            config: ref('Config'),
            tasks: { type: 'array', items: { type: 'object', properties: { connector: { type: 'string' }, task: { type: 'integer' } } } },
            type: { type: 'string', enum: ['source', 'sink', 'processor'] },
          },
        },
        State: {
          type: 'object',
          properties: {
            state: { type: 'string', enum: ['UNASSIGNED', 'RUNNING', 'PAUSED', 'FAILED', 'RESTARTING', 'STOPPED'] },
            worker_id: { type: 'string' },
            trace: { type: 'string', description: 'On FAILED: the error and its stack, secrets masked' },
          },
        },
        Status: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            connector: ref('State'),
            tasks: { type: 'array', items: { allOf: [ref('State'), { type: 'object', properties: { id: { type: 'integer' } } }] } },
            type: { type: 'string', enum: ['source', 'sink', 'processor'] },
            tideline: ref('TidelineStatus'),
          },
        },
        TidelineStatus: {
          type: 'object',
          description: "tideline's extras, which Kafka Connect has no field for",
          properties: {
            kind: { type: 'string' },
            state: { type: 'string', enum: ['starting', 'running', 'degraded', 'restarting', 'paused', 'stopped', 'failed'] },
            degraded: { type: 'boolean' },
            detail: { type: 'string', description: 'Why it is degraded or failed' },
            unreachable_services: { type: 'array', items: { type: 'string' } },
            restarts: { type: 'integer' },
            since: { type: 'string', format: 'date-time' },
            last_error: { type: 'object', properties: { message: { type: 'string' }, at: { type: 'string', format: 'date-time' } } },
            lag: {
              type: 'object',
              properties: {
                events: { type: 'integer', nullable: true, description: 'Offsets the input is behind the topics\' ends (sinks, processors)' },
                seconds: { type: 'number', nullable: true },
                wal_bytes: { type: 'integer', nullable: true, description: 'A source\'s slot: WAL bytes not yet confirmed' },
                error: { type: 'string' },
              },
            },
            throughput: { type: 'object', properties: { per_second: { type: 'number', nullable: true }, unit: { type: 'string' }, total: { type: 'number' } } },
            progress: {
              type: 'object',
              nullable: true,
              properties: { phase: { type: 'string', enum: ['snapshot'] }, done: { type: 'integer' }, total: { type: 'integer', nullable: true }, eta_seconds: { type: 'number', nullable: true } },
            },
          },
        },
        Offsets: {
          type: 'object',
          properties: {
            offsets: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  partition: { type: 'object', description: 'A source: {connector}; a sink or processor: {kafka_topic, kafka_partition}', additionalProperties: true },
                  offset: { description: "A source: its stored position; a sink or processor: {kafka_offset}, the next offset to read" },
                },
              },
            },
          },
        },
      },
    },
  };
}
