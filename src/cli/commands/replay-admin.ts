/**
 * `tideline replay <processor> --pause`: stops the processor through the
 * daemon's admin API (PUT /connectors/{name}/pause, then /status until
 * PAUSED) while the replay resets it, and resumes it afterwards, unless it
 * was paused already. Sends $TIDELINE_ADMIN_TOKEN when set.
 */
import { errorMessage } from '../../core/errors.js';
import type { ProcessorControl } from '../../processors/replay/processor-replay.js';
import { ADMIN_TOKEN_ENV } from '../../runtime/admin/auth.js';

const PAUSED_TIMEOUT_MS = 30_000;

async function request(base: string, method: 'GET' | 'PUT', path: string): Promise<unknown> {
  const url = `${base.replace(/\/+$/, '')}${path}`;
  const token = process.env[ADMIN_TOKEN_ENV];
  let response: Response;
  try {
    response = await fetch(url, { method, headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    throw new Error(`cannot reach the daemon's admin API at ${base}: ${errorMessage(cause ?? error)} (--url or TIDELINE_ADMIN_URL)`);
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : response.statusText;
    throw new Error(`the admin API at ${base} answered ${method} ${path} with ${response.status}: ${message}${response.status === 401 ? ` (set ${ADMIN_TOKEN_ENV})` : ''}`);
  }
  return body;
}

async function connectorState(base: string, name: string): Promise<string> {
  const body = (await request(base, 'GET', `/connectors/${encodeURIComponent(name)}/status`)) as { connector?: { state?: string } } | null;
  return body?.connector?.state ?? 'UNKNOWN';
}

export function adminControl(base: string, name: string): ProcessorControl {
  return {
    advice: `It was paused through ${base}, but its groups keep members: another daemon runs it too (pause it there, PUT /connectors/${name}/pause), or a daemon killed less than 10 s ago is still a member`,
    async pause() {
      if ((await connectorState(base, name)) === 'PAUSED') return async () => undefined;
      await request(base, 'PUT', `/connectors/${encodeURIComponent(name)}/pause`);
      const deadline = Date.now() + PAUSED_TIMEOUT_MS;
      while ((await connectorState(base, name)) !== 'PAUSED') {
        if (Date.now() > deadline) throw new Error(`${name} did not pause within ${PAUSED_TIMEOUT_MS / 1000} s (its status at ${base})`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      return async () => {
        await request(base, 'PUT', `/connectors/${encodeURIComponent(name)}/resume`);
      };
    },
  };
}
