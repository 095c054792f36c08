/**
 * A real Prometheus server for tests (Debian's `prometheus` package, installed
 * by stack/bootstrap): its own config, a temporary storage directory and a
 * free port, never the system service or port 9090. Plus the PromQL the repo
 * ships: every panel expression of grafana/dashboards/ and every rule of
 * prometheus/alerts.yml.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { freePort } from './daemon-process.js';
import { eventually } from './pipeline.js';

export const ALERT_RULES_FILE = resolve('prometheus/alerts.yml');
const DASHBOARDS_DIR = resolve('grafana/dashboards');

/** A binary of the prometheus package: on PATH, else where Debian puts it. */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} not found on PATH or in /usr/bin: run stack/bootstrap (it installs Debian's prometheus package)`);
}

/** `promtool check rules <file>`: its exit code and output. */
export function promtoolCheckRules(file: string): { status: number | null; output: string } {
  const result = spawnSync(prometheusBinary('promtool'), ['check', 'rules', file], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

export interface RuleState {
  name: string;
  type: 'alerting' | 'recording';
  query: string;
  health: 'ok' | 'err' | 'unknown';
  lastError?: string;
  state?: 'inactive' | 'pending' | 'firing';
}

export class PrometheusProcess {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'tideline-prometheus-'));
  readonly log: string[] = [];
  port = 0;

  /** Starts Prometheus scraping `targets` (host:port, job "tideline", /metrics) every second, with `ruleFiles` evaluated every second. */
  async start(targets: string[], ruleFiles: string[]): Promise<void> {
    this.port = await freePort();
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' },
      rule_files: ruleFiles,
      // job "tideline", as in prometheus/prometheus.yml: the dashboard's process panels select it.
      scrape_configs: [{ job_name: 'tideline', metrics_path: '/metrics', static_configs: [{ targets }] }],
    };
    const configFile = join(this.dir, 'prometheus.yml');
    writeFileSync(configFile, JSON.stringify(config)); // JSON is YAML
    const child = spawn(
      prometheusBinary('prometheus'),
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(this.dir, 'data')}`, `--web.listen-address=127.0.0.1:${this.port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => this.log.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.log.push(chunk.toString()));
    this.child = child;
    await eventually('Prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${this.log.join('').slice(-2000)}`);
      const response = await fetch(`${this.url}/-/ready`);
      return response.ok ? true : undefined;
    }, 30_000);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** An instant query through the HTTP API, at the current time. */
  async query(expr: string): Promise<QueryResult> {
    const response = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }),
    });
    return (await response.json()) as QueryResult;
  }

  async rules(): Promise<RuleState[]> {
    const body = (await (await fetch(`${this.url}/api/v1/rules`)).json()) as { data: { groups: { rules: RuleState[] }[] } };
    return body.data.groups.flatMap((group) => group.rules);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface PanelExpression {
  /** "<dashboard file>: <panel title> [refId]" */
  where: string;
  expr: string;
}

/** Every PromQL expression of every panel (rows' nested panels too) of every dashboard in grafana/dashboards/. */
export function dashboardExpressions(): PanelExpression[] {
  const out: PanelExpression[] = [];
  for (const file of readdirSync(DASHBOARDS_DIR).filter((name) => name.endsWith('.json'))) {
    const dashboard = JSON.parse(readFileSync(join(DASHBOARDS_DIR, file), 'utf8')) as { panels?: Panel[] };
    const visit = (panels: Panel[] | undefined): void => {
      for (const panel of panels ?? []) {
        for (const target of panel.targets ?? []) {
          if (typeof target.expr === 'string') out.push({ where: `${file}: ${panel.title ?? '?'} [${target.refId ?? '?'}]`, expr: target.expr });
        }
        visit(panel.panels);
      }
    };
    visit(dashboard.panels);
  }
  return out;
}

interface Panel {
  title?: string;
  targets?: { expr?: unknown; refId?: string }[];
  panels?: Panel[];
}

/**
 * Grafana's variables as Grafana would fill them for "All connectors" and a
 * 1 s scrape interval ($__rate_interval is at least four scrape intervals; 10 s
 * leaves room for a late scrape). Throws on a variable it does not know.
 */
export function withGrafanaVariables(expr: string): string {
  const filled = expr
    .replaceAll('$__rate_interval', '10s')
    .replaceAll('$__interval', '2s')
    .replaceAll('$__range', '5m')
    .replaceAll('$connector', '.*');
  if (filled.includes('$')) throw new Error(`unknown Grafana variable in: ${expr}`);
  return filled;
}

/** The rules of an alert rules file: name and expression. */
export function alertRules(file: string): { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }[] {
  const parsed = parse(readFileSync(file, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  return parsed.groups.flatMap((group) => group.rules);
}
