/**
 * Consistency of the Docker setup: docker-compose.yml, Dockerfile, .dockerignore,
 * prometheus/, grafana/ and the docs against the connector files and the metrics
 * the daemon really exports. No Docker engine is needed: these read the files.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { metricNames, registry } from '../../src/metrics/registry.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The metrics the Grafana dashboard is designed on (the daemon's contract). */
const TIDELINE_METRICS = [
  'tideline_connector_up',
  'tideline_connector_restarts_total',
  'tideline_source_events_total',
  'tideline_source_transactions_total',
  'tideline_source_commit_to_kafka_seconds',
  'tideline_source_lag_bytes',
  'tideline_sink_rows_written_total',
  'tideline_sink_batch_rows',
  'tideline_sink_flush_seconds',
  'tideline_sink_end_to_end_seconds',
  'tideline_sink_lag_events',
  'tideline_connector_state',
  'tideline_sink_dead_letters_total',
  'tideline_errors_total',
  'tideline_service_degraded_seconds_total',
] as const;

const EXPECTED_SERVICES = [
  'postgres',
  'kafka',
  'clickhouse',
  'tideline',
  'demo-writer',
  'prometheus',
  'grafana',
] as const;

/** Which compose service each connector variable must point at, and its host port. */
const SERVICE_OF_VARIABLE: Record<string, { service: string; hostPort: number }> = {
  TIDELINE_PG_URL: { service: 'postgres', hostPort: 55432 },
  TIDELINE_KAFKA_BROKERS: { service: 'kafka', hostPort: 59092 },
  TIDELINE_CLICKHOUSE_URL: { service: 'clickhouse', hostPort: 58123 },
};

// ---------------------------------------------------------------- file access

function read(relative: string): string {
  return readFileSync(join(ROOT, relative), 'utf8');
}

function readYaml(relative: string): unknown {
  return parse(read(relative)) as unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) throw new Error(`${what} is not a mapping`);
  return value;
}

// ---------------------------------------------------------------- compose model

interface PortMapping {
  hostIp: string | undefined;
  published: number;
  target: number;
}

interface Mount {
  source: string;
  target: string;
}

const compose = record(readYaml('docker-compose.yml'), 'docker-compose.yml');
const services = record(compose.services, 'services');

function service(name: string): Record<string, unknown> {
  return record(services[name], `service ${name}`);
}

function environment(name: string): Record<string, string> {
  const raw = service(name).environment;
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) {
    for (const item of raw) {
      const text = String(item);
      const eq = text.indexOf('=');
      if (eq > 0) out[text.slice(0, eq)] = text.slice(eq + 1);
    }
  } else if (isRecord(raw)) {
    for (const [key, value] of Object.entries(raw)) out[key] = value === null ? '' : String(value);
  }
  return out;
}

function ports(name: string): PortMapping[] {
  const raw = service(name).ports;
  if (!Array.isArray(raw)) return [];
  return raw.map((item): PortMapping => {
    if (isRecord(item)) {
      return {
        hostIp: item.host_ip === undefined ? undefined : String(item.host_ip),
        published: Number(item.published),
        target: Number(item.target),
      };
    }
    const parts = String(item).replace(/\/(tcp|udp)$/, '').split(':');
    if (parts.length < 2) throw new Error(`${name}: port ${String(item)} is not published on the host`);
    const target = Number(parts[parts.length - 1]);
    const published = Number(parts[parts.length - 2]);
    const hostIp = parts.length > 2 ? parts.slice(0, -2).join(':') : undefined;
    if (!Number.isInteger(target) || !Number.isInteger(published)) {
      throw new Error(`${name}: cannot read port mapping ${String(item)}`);
    }
    return { hostIp, published, target };
  });
}

function mounts(name: string): Mount[] {
  const raw = service(name).volumes;
  if (!Array.isArray(raw)) return [];
  return raw.map((item): Mount => {
    if (isRecord(item)) return { source: String(item.source ?? ''), target: String(item.target) };
    const [source = '', target = ''] = String(item).split(':');
    return { source, target };
  });
}

function bindMountTarget(name: string, source: string): string | undefined {
  const normalise = (path: string) => path.replace(/^\.\//, '').replace(/\/$/, '');
  return mounts(name).find((m) => normalise(m.source) === normalise(source))?.target;
}

function command(name: string): string[] {
  const raw = service(name).command;
  if (Array.isArray(raw)) return raw.map(String);
  if (typeof raw === 'string') return raw.split(/\s+/).filter(Boolean);
  return [];
}

function buildContext(name: string): string | undefined {
  const raw = service(name).build;
  if (typeof raw === 'string') return raw;
  if (isRecord(raw)) return String(raw.context ?? '.');
  return undefined;
}

function healthcheckText(name: string): string {
  const check = service(name).healthcheck;
  if (!isRecord(check)) return '';
  const test = check.test;
  return Array.isArray(test) ? test.map(String).join(' ') : String(test ?? '');
}

function dependsOn(name: string): Record<string, string> {
  const raw = service(name).depends_on;
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) for (const dep of raw) out[String(dep)] = 'service_started';
  else if (isRecord(raw)) {
    for (const [dep, spec] of Object.entries(raw)) {
      out[dep] = isRecord(spec) && spec.condition !== undefined ? String(spec.condition) : 'service_started';
    }
  }
  return out;
}

function imageVersion(name: string, repository: string): number[] {
  const image = String(service(name).image ?? '');
  expect(image.startsWith(`${repository}:`), `${name} image ${image}`).toBe(true);
  const tag = image.slice(repository.length + 1);
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(tag);
  expect(match, `${name} image tag ${tag} has a version`).not.toBeNull();
  return [Number(match?.[1] ?? 0), Number(match?.[2] ?? 0), Number(match?.[3] ?? 0)];
}

function atLeast(version: number[], minimum: number[]): boolean {
  for (let i = 0; i < minimum.length; i++) {
    const a = version[i] ?? 0;
    const b = minimum[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

// ---------------------------------------------------------------- connectors

interface Reference {
  file: string;
  variable: string;
  fallback: string | undefined;
}

const CONNECTOR_DIR = 'connectors';
const connectorFiles = readdirSync(join(ROOT, CONNECTOR_DIR))
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

/** Every ${VAR} / ${VAR:-default} in the connector files' values (comments are not values). */
function connectorReferences(): Reference[] {
  const found: Reference[] = [];
  const walk = (file: string, node: unknown): void => {
    if (typeof node === 'string') {
      const text = node.replaceAll('$${', '');
      for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g)) {
        found.push({ file, variable: m[1] as string, fallback: m[2] });
      }
    } else if (Array.isArray(node)) {
      for (const item of node) walk(file, item);
    } else if (isRecord(node)) {
      for (const value of Object.values(node)) walk(file, value);
    }
  };
  for (const file of connectorFiles) walk(file, readYaml(join(CONNECTOR_DIR, file)));
  return found;
}

/** host:port of a URL, or of the first entry of a comma-separated broker list. */
function endpoint(value: string): URL {
  const first = value.split(',')[0]?.trim() ?? '';
  return new URL(first.includes('://') ? first : `tcp://${first}`);
}

function portOf(url: URL): number {
  if (url.port) return Number(url.port);
  if (url.protocol === 'http:') return 80;
  if (url.protocol === 'https:') return 443;
  if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') return 5432;
  throw new Error(`no port in ${url.href}`);
}

// ---------------------------------------------------------------- kafka listeners

interface Listener {
  name: string;
  host: string;
  port: number;
}

function listeners(value: string | undefined): Listener[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^([A-Za-z0-9_-]+):\/\/([^:]*):(\d+)$/.exec(s);
      if (!m) throw new Error(`cannot read listener ${s}`);
      return { name: m[1] as string, host: m[2] as string, port: Number(m[3]) };
    });
}

// ---------------------------------------------------------------- promql

const PROMQL_KEYWORDS = new Set([
  'and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring',
  'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN', 'atan2',
]);

/** Metric names used by a PromQL expression (label matchers, ranges, grouping removed). */
function promqlMetrics(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/(?<![\w.:$])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    const identifier = m[1] as string;
    const isCall = m[2] !== undefined;
    if (!isCall && !PROMQL_KEYWORDS.has(identifier)) names.push(identifier);
  }
  return names;
}

interface DashboardQuery {
  where: string;
  expr: string;
}

function dashboardQueries(dashboard: Record<string, unknown>): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  const visit = (panels: unknown): void => {
    if (!Array.isArray(panels)) return;
    for (const panel of panels) {
      if (!isRecord(panel)) continue;
      if (Array.isArray(panel.targets)) {
        for (const t of panel.targets) {
          if (isRecord(t) && typeof t.expr === 'string') {
            out.push({ where: `panel "${String(panel.title)}"`, expr: t.expr });
          }
        }
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

async function exportedSeriesNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    const name = metric.name;
    const type = String(metric.type);
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
    } else if (type === 'summary') {
      for (const suffix of ['', '_sum', '_count']) names.add(name + suffix);
    } else {
      names.add(name);
    }
  }
  return names;
}

// ================================================================ tests

describe('docker-compose.yml services', () => {
  it('defines the services by their documented names', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining([...EXPECTED_SERVICES]));
  });

  it('uses current images (Postgres 16+, Kafka 3.9+, ClickHouse 24.8+)', () => {
    expect(atLeast(imageVersion('postgres', 'postgres'), [16])).toBe(true);
    expect(atLeast(imageVersion('kafka', 'apache/kafka'), [3, 9])).toBe(true);
    expect(atLeast(imageVersion('clickhouse', 'clickhouse/clickhouse-server'), [24, 8])).toBe(true);
    expect(String(service('prometheus').image)).toMatch(/^prom\/prometheus(:|$)/);
    expect(String(service('grafana').image)).toMatch(/^grafana\/grafana(:|$)/);
  });

  it('runs Postgres with logical decoding and the tideline user and database', () => {
    const cmd = command('postgres').join(' ');
    expect(cmd).toMatch(/-c\s+wal_level=logical\b/);
    expect(Number(/max_replication_slots=(\d+)/.exec(cmd)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    expect(Number(/max_wal_senders=(\d+)/.exec(cmd)?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    const env = environment('postgres');
    expect([env.POSTGRES_USER, env.POSTGRES_PASSWORD, env.POSTGRES_DB]).toEqual(['tideline', 'tideline', 'tideline']);
    expect(healthcheckText('postgres')).toContain('pg_isready');
  });

  it('runs Kafka as one KRaft node whose internal topics allow transactions', () => {
    const env = environment('kafka');
    expect(env.KAFKA_PROCESS_ROLES?.split(',').sort()).toEqual(['broker', 'controller']);
    expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS).toMatch(new RegExp(`^${env.KAFKA_NODE_ID ?? 'none'}@`));
    expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR).toBe('1');
    expect(env.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR).toBe('1');
    expect(env.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR).toBe('1');
    expect(healthcheckText('kafka')).toMatch(/\/opt\/kafka\/bin\/kafka-(topics|broker-api-versions)\.sh/);
  });

  it('gives Kafka consistent listeners: kafka:9092 inside, the published port outside', () => {
    const env = environment('kafka');
    const bound = listeners(env.KAFKA_LISTENERS);
    const advertised = listeners(env.KAFKA_ADVERTISED_LISTENERS);
    const protocols = new Set(
      (env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP ?? '').split(',').map((p) => p.split(':')[0]?.trim()),
    );
    for (const l of [...bound, ...advertised]) expect(protocols, `protocol of ${l.name}`).toContain(l.name);
    for (const l of advertised) {
      expect(bound.find((b) => b.name === l.name), `bound listener ${l.name}`).toBeDefined();
    }
    expect(advertised).toContainEqual(expect.objectContaining({ host: 'kafka', port: 9092 }));
    expect(bound.map((l) => l.name)).toContain(env.KAFKA_CONTROLLER_LISTENER_NAMES);

    // A host client bootstraps on the published port and is then sent to the
    // advertised address of the listener behind it: that must be the same port.
    const hostPort = SERVICE_OF_VARIABLE.TIDELINE_KAFKA_BROKERS?.hostPort;
    const mapping = ports('kafka').find((p) => p.published === hostPort);
    expect(mapping, `kafka publishes ${String(hostPort)}`).toBeDefined();
    const behind = bound.find((l) => l.port === mapping?.target);
    expect(behind, `a listener on container port ${String(mapping?.target)}`).toBeDefined();
    const announced = advertised.find((l) => l.name === behind?.name);
    expect(announced?.port).toBe(hostPort);
    expect(['127.0.0.1', 'localhost']).toContain(announced?.host);
  });

  it('runs ClickHouse with the tideline database and a user the daemon can log in as', () => {
    const env = environment('clickhouse');
    expect(env.CLICKHOUSE_DB).toBe('tideline');
    const url = new URL(environment('tideline').TIDELINE_CLICKHOUSE_URL ?? '');
    const user = decodeURIComponent(url.username) || 'default';
    const password = decodeURIComponent(url.password);
    expect(env.CLICKHOUSE_USER ?? 'default').toBe(user);
    expect(env.CLICKHOUSE_PASSWORD ?? '').toBe(password);
    // Recent images restrict `default` to localhost unless one of these is set.
    const reachable =
      env.CLICKHOUSE_SKIP_USER_SETUP === '1' ||
      env.CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT === '1' ||
      (env.CLICKHOUSE_PASSWORD ?? '') !== '' ||
      (env.CLICKHOUSE_USER ?? 'default') !== 'default';
    expect(reachable).toBe(true);
    const nofile = record(record(service('clickhouse').ulimits, 'clickhouse ulimits').nofile, 'nofile');
    expect(Number(nofile.soft)).toBeGreaterThanOrEqual(262144);
    expect(Number(nofile.hard)).toBeGreaterThanOrEqual(262144);
    expect(healthcheckText('clickhouse')).toMatch(/(wget|curl).*:8123\/ping/);
  });

  it('builds the daemon image and runs `run /app/connectors` once the services are healthy', () => {
    expect(buildContext('tideline')).toBe('.');
    expect(command('tideline')).toEqual(['run', '/app/connectors']);
    const deps = dependsOn('tideline');
    for (const dep of ['postgres', 'kafka', 'clickhouse']) {
      expect(deps[dep], `tideline depends on ${dep}`).toBe('service_healthy');
      expect(healthcheckText(dep), `${dep} has a healthcheck`).not.toBe('');
    }
    expect(healthcheckText('tideline')).toContain('/healthz');
  });

  it('runs the demo writer from the same image against the same database', () => {
    expect(buildContext('demo-writer')).toBe(buildContext('tideline'));
    expect(command('demo-writer')).toEqual(['demo-writer']);
    expect(environment('demo-writer').TIDELINE_PG_URL).toBe(environment('tideline').TIDELINE_PG_URL);
    expect(dependsOn('demo-writer').postgres).toBe('service_healthy');
  });

  it('mounts only files and folders that exist in the repository', () => {
    const sources: string[] = [];
    for (const name of Object.keys(services)) {
      for (const m of mounts(name)) if (m.source.startsWith('.')) sources.push(m.source);
    }
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true);
  });
});

describe('connector files against docker-compose.yml', () => {
  const references = connectorReferences();

  it('reference the expected environment variables', () => {
    expect(connectorFiles.length).toBeGreaterThan(0);
    expect(new Set(references.map((r) => r.variable))).toEqual(new Set(Object.keys(SERVICE_OF_VARIABLE)));
  });

  it('have every referenced variable set in the tideline service', () => {
    const env = environment('tideline');
    for (const ref of references) {
      expect(env[ref.variable], `${ref.variable} (${ref.file}) in tideline's environment`).toBeTruthy();
    }
  });

  it('default to the host ports that compose publishes', () => {
    for (const ref of references) {
      const expected = SERVICE_OF_VARIABLE[ref.variable];
      expect(expected, ref.variable).toBeDefined();
      expect(ref.fallback, `${ref.variable} in ${ref.file} has a default`).toBeDefined();
      const fallback = endpoint(ref.fallback ?? '');
      expect(['127.0.0.1', 'localhost']).toContain(fallback.hostname);
      expect(portOf(fallback), `${ref.variable} default port`).toBe(expected?.hostPort);
      const published = ports(expected?.service ?? '').map((p) => p.published);
      expect(published, `${expected?.service} publishes ${String(expected?.hostPort)}`).toContain(expected?.hostPort);
    }
  });

  it('point the tideline service at the compose services', () => {
    const env = environment('tideline');
    for (const [variable, { service: name, hostPort }] of Object.entries(SERVICE_OF_VARIABLE)) {
      const url = endpoint(env[variable] ?? '');
      expect(url.hostname, variable).toBe(name);
      const inside = portOf(url);
      if (name === 'kafka') {
        const advertised = listeners(environment('kafka').KAFKA_ADVERTISED_LISTENERS);
        expect(advertised, variable).toContainEqual(expect.objectContaining({ host: 'kafka', port: inside }));
      } else {
        const mapping = ports(name).find((p) => p.published === hostPort);
        expect(mapping?.target, `${variable}: ${name} listens on ${inside}`).toBe(inside);
      }
    }
    // Same credentials and database inside compose as in the host default.
    const pgDefault = references.find((r) => r.variable === 'TIDELINE_PG_URL')?.fallback ?? '';
    const inside = endpoint(env.TIDELINE_PG_URL ?? '');
    const outside = endpoint(pgDefault);
    expect([inside.username, inside.password, inside.pathname]).toEqual([
      outside.username,
      outside.password,
      outside.pathname,
    ]);
    const pg = environment('postgres');
    expect(inside.username).toBe(pg.POSTGRES_USER);
    expect(inside.password).toBe(pg.POSTGRES_PASSWORD);
    expect(inside.pathname).toBe(`/${pg.POSTGRES_DB ?? ''}`);
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const all = (keyword: string) =>
    instructions.filter((l) => l.toUpperCase().startsWith(`${keyword} `)).map((l) => l.slice(keyword.length + 1).trim());
  const last = (keyword: string) => all(keyword).at(-1);

  it('builds on node:20-bookworm-slim with npm ci, a build and a production prune', () => {
    const froms = all('FROM');
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(from.split(/\s+/)[0]).toBe('node:20-bookworm-slim');
    const runs = all('RUN').join('\n');
    expect(runs).toMatch(/\bnpm ci\b/);
    expect(runs).toMatch(/\bnpm run build\b/);
    expect(runs).toMatch(/\bnpm prune --omit=dev\b/);
  });

  it('runs the compiled CLI as a non-root user, by default `run /app/connectors`', () => {
    expect(JSON.parse(last('ENTRYPOINT') ?? 'null')).toEqual(['node', '/app/dist/cli/main.js']);
    expect(JSON.parse(last('CMD') ?? 'null')).toEqual(['run', '/app/connectors']);
    const user = last('USER');
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    const pkg = JSON.parse(read('package.json')) as { bin?: Record<string, string> };
    expect(`/app/${(pkg.bin?.tideline ?? '').replace(/^\.\//, '')}`).toBe('/app/dist/cli/main.js');
    expect(all('COPY').some((c) => /^connectors\s/.test(c))).toBe(true);
  });

  it('exposes the admin port that compose publishes and Prometheus scrapes', () => {
    const adminPort = Number(environment('tideline').TIDELINE_ADMIN_PORT ?? 8089);
    expect(all('EXPOSE').flatMap((e) => e.split(/\s+/)).map((p) => Number(p.replace(/\/tcp$/, '')))).toContain(
      adminPort,
    );
    expect(ports('tideline').map((p) => p.target)).toContain(adminPort);
    // Prometheus scrapes from another container: the API must not listen on loopback only,
    // and so it needs a token (the daemon refuses to start without one).
    expect(['127.0.0.1', 'localhost', '::1']).not.toContain(environment('tideline').TIDELINE_ADMIN_HOST);
    expect(environment('tideline').TIDELINE_ADMIN_TOKEN ?? '').not.toBe('');
    expect(healthcheckText('tideline')).toContain('TIDELINE_ADMIN_TOKEN');
  });

  it('keeps dependencies, build output and git out of the build context, but not the sources', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim().replace(/^\/|\/$/g, ''))
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
    for (const needed of ['src', 'scripts', 'connectors', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignored, needed).not.toContain(needed);
    }
  });
});

describe('prometheus/prometheus.yml', () => {
  it('scrapes the tideline service on the admin port every 5s', () => {
    const mountedAt = bindMountTarget('prometheus', './prometheus/prometheus.yml');
    expect(mountedAt).toBe('/etc/prometheus/prometheus.yml');
    const config = record(readYaml('prometheus/prometheus.yml'), 'prometheus.yml');
    const global = isRecord(config.global) ? config.global : {};
    const adminPort = Number(environment('tideline').TIDELINE_ADMIN_PORT ?? 8089);
    const jobs = Array.isArray(config.scrape_configs) ? config.scrape_configs.filter(isRecord) : [];
    const job = jobs.find((j) =>
      (Array.isArray(j.static_configs) ? j.static_configs : [])
        .filter(isRecord)
        .some((s) => Array.isArray(s.targets) && s.targets.includes(`tideline:${adminPort}`)),
    );
    expect(job, `a job scraping tideline:${adminPort}`).toBeDefined();
    expect(job?.scrape_interval ?? global.scrape_interval).toBe('5s');
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.scheme ?? 'http').toBe('http');
    // The daemon's admin token, as a bearer token.
    const authorization = isRecord(job?.authorization) ? job.authorization : {};
    expect(authorization.type ?? 'Bearer').toBe('Bearer');
    expect(authorization.credentials).toBe(environment('tideline').TIDELINE_ADMIN_TOKEN);
  });

  it('loads the alert rules from prometheus/alerts.yml', () => {
    const config = record(readYaml('prometheus/prometheus.yml'), 'prometheus.yml');
    const mountedAt = bindMountTarget('prometheus', './prometheus/alerts.yml');
    expect(mountedAt).toBeDefined();
    expect(config.rule_files).toContain(mountedAt);
  });
});

describe('grafana/', () => {
  const datasourceFiles = readdirSync(join(ROOT, 'grafana/provisioning/datasources')).filter((f) => /\.ya?ml$/.test(f));
  const datasources = datasourceFiles.flatMap((f) => {
    const doc = record(readYaml(`grafana/provisioning/datasources/${f}`), f);
    return Array.isArray(doc.datasources) ? doc.datasources.filter(isRecord) : [];
  });
  const prometheusSource = datasources.find((d) => d.type === 'prometheus');
  const dashboardFiles = readdirSync(join(ROOT, 'grafana/dashboards')).filter((f) => f.endsWith('.json'));

  it('is provisioned by compose with anonymous viewer access', () => {
    expect(bindMountTarget('grafana', './grafana/provisioning')).toBe('/etc/grafana/provisioning');
    const env = environment('grafana');
    expect(env.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(env.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
    expect(ports('grafana').map((p) => p.published)).toContain(3000);
    expect(ports('prometheus').map((p) => p.published)).toContain(9090);
  });

  it('has a Prometheus data source pointing at the prometheus service', () => {
    expect(prometheusSource).toBeDefined();
    const url = new URL(String(prometheusSource?.url));
    expect(url.hostname).toBe('prometheus');
    expect(ports('prometheus').map((p) => p.target)).toContain(portOf(url));
    expect(typeof prometheusSource?.uid).toBe('string');
  });

  it('loads the dashboards from the folder compose mounts', () => {
    const providerFiles = readdirSync(join(ROOT, 'grafana/provisioning/dashboards')).filter((f) => /\.ya?ml$/.test(f));
    const paths = providerFiles.flatMap((f) => {
      const doc = record(readYaml(`grafana/provisioning/dashboards/${f}`), f);
      return (Array.isArray(doc.providers) ? doc.providers.filter(isRecord) : []).map((p) =>
        isRecord(p.options) ? String(p.options.path) : '',
      );
    });
    const mounted = bindMountTarget('grafana', './grafana/dashboards');
    expect(mounted).toBeDefined();
    expect(paths).toContain(mounted);
    expect(dashboardFiles.length).toBeGreaterThan(0);
    const home = environment('grafana').GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
    if (home !== undefined) {
      expect(dashboardFiles.map((f) => `${mounted ?? ''}/${f}`)).toContain(home);
    }
  });

  it('has dashboards that parse and query the provisioned data source', () => {
    for (const file of dashboardFiles) {
      const dashboard = record(JSON.parse(read(`grafana/dashboards/${file}`)), file);
      expect(Number(dashboard.schemaVersion), `${file} schemaVersion`).toBeGreaterThanOrEqual(36);
      expect(typeof dashboard.uid).toBe('string');
      const templating =
        isRecord(dashboard.templating) && Array.isArray(dashboard.templating.list) ? dashboard.templating.list : [];
      for (const variable of templating.filter(isRecord)) {
        if (variable.type !== 'query') continue;
        const source = isRecord(variable.datasource) ? variable.datasource.uid : variable.datasource;
        expect(source, `variable ${String(variable.name)} data source`).toBe(prometheusSource?.uid);
      }
      const panels = Array.isArray(dashboard.panels) ? dashboard.panels.filter(isRecord) : [];
      const graphs = panels.filter((p) => p.type !== 'row');
      expect(graphs.length).toBeGreaterThan(0);
      for (const panel of graphs) {
        const targets = Array.isArray(panel.targets) ? panel.targets.filter(isRecord) : [];
        expect(targets.length, `panel "${String(panel.title)}" has queries`).toBeGreaterThan(0);
        if (panel.datasource !== undefined) {
          expect(isRecord(panel.datasource) ? panel.datasource.uid : panel.datasource, `panel "${String(panel.title)}" data source`).toBe(
            prometheusSource?.uid,
          );
        }
        for (const target of targets) {
          const source = isRecord(target.datasource) ? target.datasource : isRecord(panel.datasource) ? panel.datasource : {};
          expect(source.uid, `panel "${String(panel.title)}" query data source`).toBe(prometheusSource?.uid);
        }
      }
    }
  });

  it('query only metrics that the daemon exports', async () => {
    const exported = await exportedSeriesNames();
    let checked = 0;
    for (const file of dashboardFiles) {
      const dashboard = record(JSON.parse(read(`grafana/dashboards/${file}`)), file);
      for (const { where, expr } of dashboardQueries(dashboard)) {
        const used = promqlMetrics(expr);
        expect(used.length, `${file} ${where}: ${expr}`).toBeGreaterThan(0);
        for (const name of used) {
          checked++;
          expect(exported.has(name), `${file} ${where} queries unknown metric ${name}`).toBe(true);
        }
      }
      const templating = isRecord(dashboard.templating) && Array.isArray(dashboard.templating.list) ? dashboard.templating.list : [];
      for (const variable of templating.filter(isRecord)) {
        const query = isRecord(variable.query) ? String(variable.query.query) : String(variable.query ?? '');
        for (const m of query.matchAll(/label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,/g)) {
          checked++;
          expect(exported.has(m[1] as string), `${file} variable ${String(variable.name)} uses ${m[1]}`).toBe(true);
        }
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('chart every tideline metric, and the daemon defines each of them', () => {
    expect(metricNames).toEqual(expect.arrayContaining([...TIDELINE_METRICS]));
    const used = new Set<string>();
    for (const file of dashboardFiles) {
      const dashboard = record(JSON.parse(read(`grafana/dashboards/${file}`)), file);
      for (const { expr } of dashboardQueries(dashboard)) {
        for (const name of promqlMetrics(expr)) used.add(name.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    for (const metric of TIDELINE_METRICS) expect(used, `a panel charts ${metric}`).toContain(metric);
    expect(used).toContain('process_resident_memory_bytes');
  });

  it('extracts metric names from PromQL the way the checks above assume', () => {
    expect(
      promqlMetrics(
        'histogram_quantile(0.99, sum by (le, connector) (rate(tideline_sink_flush_seconds_bucket{connector=~"$connector"}[$__rate_interval])))',
      ),
    ).toEqual(['tideline_sink_flush_seconds_bucket']);
    expect(promqlMetrics('sum(rate(a_total[5m])) by (x) / on(x) group_left b_info offset 5m')).toEqual([
      'a_total',
      'b_info',
    ]);
  });
});

describe('documentation', () => {
  const hostUrl = (variable: string, service: string): string => {
    const fallback = connectorReferences().find((r) => r.variable === variable)?.fallback ?? '';
    const published = ports(service).map((p) => p.published);
    expect(published).toContain(portOf(endpoint(fallback)));
    return fallback;
  };

  it('docs/docker.md explains how to start the stack and point tests at it', () => {
    const doc = read('docs/docker.md');
    expect(doc).toContain('docker compose up --build');
    expect(doc).toContain(`TIDELINE_PG_URL=${hostUrl('TIDELINE_PG_URL', 'postgres')}`);
    expect(doc).toContain(`TIDELINE_KAFKA_BROKERS=${hostUrl('TIDELINE_KAFKA_BROKERS', 'kafka')}`);
    expect(doc).toContain(`TIDELINE_CLICKHOUSE_URL=${hostUrl('TIDELINE_CLICKHOUSE_URL', 'clickhouse')}`);
    for (const name of EXPECTED_SERVICES) expect(doc, `docs/docker.md mentions ${name}`).toContain(`\`${name}\``);
  });

  it('README.md tells how to run with Docker Compose', () => {
    expect(existsSync(join(ROOT, 'README.md')), 'README.md exists').toBe(true);
    expect(read('README.md')).toContain('docker compose up --build');
  });
});
