import type { Command } from 'commander';
import pg from 'pg';
import { createLogger } from '../../core/logger.js';
import { ExitCode } from '../exit-codes.js';

const DEMO_TABLE_SQL = `
CREATE TABLE IF NOT EXISTS public.demo_orders (
  id          bigserial PRIMARY KEY,
  customer    text NOT NULL,
  amount      numeric(12, 2) NOT NULL,
  status      text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
)`;

const CUSTOMERS = ['ada', 'grace', 'edsger', 'barbara', 'donald', 'frances'];
const STATUSES = ['new', 'paid', 'shipped', 'delivered'];

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

interface DemoWriterOptions {
  url: string;
  rate: string;
  duration: string;
  setupOnly?: boolean;
}

/** Creates public.demo_orders and keeps writing inserts, updates and deletes to it. */
export function registerDemoWriter(program: Command): void {
  program
    .command('demo-writer')
    .description('Create the demo table public.demo_orders and write inserts, updates and deletes to it until stopped.')
    .option('--url <url>', 'PostgreSQL connection string', process.env.TIDELINE_PG_URL ?? 'postgres://tideline:tideline@127.0.0.1:55432/tideline')
    .option('--rate <n>', 'transactions per second', '5')
    .option('--duration <seconds>', 'stop after this many seconds (0 = until SIGINT/SIGTERM)', '0')
    .option('--setup-only', 'create the table and exit')
    .action(async (options: DemoWriterOptions) => {
      const logger = createLogger({ name: 'demo-writer' });
      const client = new pg.Client({ connectionString: options.url });
      await client.connect();
      await client.query(DEMO_TABLE_SQL);
      if (options.setupOnly) {
        await client.end();
        return;
      }
      const interval = 1000 / Math.max(0.1, Number(options.rate));
      const deadline = Number(options.duration) > 0 ? Date.now() + Number(options.duration) * 1000 : Infinity;
      let stop = false;
      const onSignal = (): void => {
        stop = true;
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let written = 0;
      logger.info({ rate: options.rate, table: 'public.demo_orders' }, 'writing demo changes');
      while (!stop && Date.now() < deadline) {
        const roll = Math.random();
        if (roll < 0.6) {
          await client.query('INSERT INTO public.demo_orders (customer, amount, status) VALUES ($1, $2, $3)', [
            pick(CUSTOMERS),
            (Math.random() * 500).toFixed(2),
            'new',
          ]);
        } else if (roll < 0.9) {
          await client.query(
            'UPDATE public.demo_orders SET status = $1, amount = amount + 1, updated_at = now() WHERE id = (SELECT id FROM public.demo_orders ORDER BY random() LIMIT 1)',
            [pick(STATUSES)],
          );
        } else {
          await client.query('DELETE FROM public.demo_orders WHERE id = (SELECT id FROM public.demo_orders ORDER BY random() LIMIT 1)');
        }
        written += 1;
        if (written % 100 === 0) logger.info({ written }, 'demo changes written');
        await new Promise((resolve) => setTimeout(resolve, interval));
      }
      await client.end();
      process.exitCode = ExitCode.ok;
    });
}
