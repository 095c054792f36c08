/**
 * The daemon as a separate process, as users run it: `tideline run <dir>`,
 * so that tests can kill it with SIGKILL and start it again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { eventually } from './pipeline.js';

import { tidelineArgs } from './tideline-command.js';

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

export class DaemonProcess {
  private child: ChildProcess | null = null;
  readonly log: string[] = [];
  /**
   * Its consumer-group identity, the same across restarts as a host's is:
   * several DaemonProcesses on this one host are different instances.
   */
  readonly instanceId = `test-${randomUUID().slice(0, 8)}`;

  constructor(private readonly dir: string, private readonly port: number, private readonly env: Record<string, string> = {}) {}

  /**
   * Starts the daemon and waits until /healthz says every connector runs
   * (a source reading its snapshot is not running yet: `healthy: false` returns
   * once the admin API answers).
   */
  async start({ healthy = true, env = {} }: { healthy?: boolean; env?: Record<string, string> } = {}): Promise<void> {
    const child = spawn(process.execPath, tidelineArgs('run', this.dir, '--admin-port', String(this.port), '--admin-host', '127.0.0.1'), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TIDELINE_LOG_LEVEL: process.env.TIDELINE_TEST_LOG_LEVEL ?? 'warn', TIDELINE_INSTANCE_ID: this.instanceId, ...this.env, ...env },
    });
    child.stdout?.on('data', (chunk: Buffer) => this.log.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.log.push(chunk.toString()));
    this.child = child;
    // A daemon that exited (e.g. refusing its files) ends the wait at once, with its last output.
    const outcome = await eventually('the daemon to report every connector running', async () => {
      if (child.exitCode !== null) return 'exited' as const;
      const response = await this.request('/healthz');
      return response.status === 200 || !healthy ? ('running' as const) : undefined;
    }, 90_000);
    if (outcome === 'exited') throw new Error(`daemon exited with ${child.exitCode}: ${this.log.join('').slice(-2000)}`);
  }

  /** The process ended by itself (or was killed from outside this object). */
  get exited(): boolean {
    return this.child !== null && (this.child.exitCode !== null || this.child.signalCode !== null);
  }

  /** The exit code of the last stop() or kill() (null when a signal ended the process): 0 is a clean shutdown. */
  lastExitCode: number | null = null;

  get adminPort(): number {
    return this.port;
  }

  /** A request to its admin API, with its TIDELINE_ADMIN_TOKEN (if it has one) as the bearer token. */
  request(path: string, init: RequestInit = {}): Promise<Response> {
    const token = this.env.TIDELINE_ADMIN_TOKEN;
    const headers = new Headers(init.headers);
    if (token && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    return fetch(`http://127.0.0.1:${this.port}${path}`, { ...init, headers });
  }

  /** tideline's own status of each connector (the `connectors` of /healthz: name, kind, state, detail, restarts, ...). */
  async statuses<T extends { name: string; state: string } = { name: string; state: string; detail?: string; restarts: number }>(): Promise<T[]> {
    return ((await (await this.request('/healthz')).json()) as { connectors: T[] }).connectors;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The value of one metric sample from /metrics (summed over its label sets), or 0 when absent. */
  async metric(name: string): Promise<number> {
    const text = await (await this.request('/metrics')).text();
    let sum = 0;
    for (const line of text.split('\n')) {
      const match = /^([a-z_:]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
      if (match?.[1] === name) sum += Number(match[2]);
    }
    return sum;
  }

  /** SIGHUP: the daemon reloads its connector files (it keeps running). */
  hangUp(): void {
    this.child?.kill('SIGHUP');
  }

  /** SIGKILL: no clean shutdown, no flushing; whatever was in flight is lost by the process. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill(signal);
    this.lastExitCode = await exited;
    this.child = null;
  }
}
