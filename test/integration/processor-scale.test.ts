/**
 * Scaling out: two daemon processes run the same aggregate processor and split
 * its partitions (both stages are consumer groups). One is killed with
 * SIGKILL mid-stream; the other takes its partitions over (restoring their
 * state from the changelog, fencing the dead instance's transactional ids) and
 * the final results equal the aggregation computed here, with every result
 * version emitted exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssignerProtocol, type Producer } from 'kafkajs';
import { serviceUrls } from '../support/services.js';
import { eventually, uniqueSuffix, writeConnectorFiles } from '../support/pipeline.js';
import { DaemonProcess, freePort } from '../support/daemon-process.js';
import { createTopic, idempotentProducer, readTopics, testKafka, valueOf } from '../support/debezium-events.js';
import { OrderStream, ordersTable, perMinute } from '../support/orders.js';
import type { ChangeEvent } from '../../src/core/events.js';
import type { ResultSourceBlock } from '../../src/processors/aggregate/result-source.js';

const services = serviceUrls();
const suffix = uniqueSuffix();
const input = `ps${suffix}.public.orders`;
const output = `ps${suffix}.orders_per_minute`;
const name = `pscale-${suffix}`;
const kafka = testKafka(services.kafkaBrokers);

const yaml = [
  `name: ${name}`,
  'kind: aggregate',
  `kafka: { brokers: "${services.kafkaBrokers.join(',')}" }`,
  'config:',
  `  topics: [${input}]`,
  `  outputTopic: ${output}`,
  '  groupBy: { customer_id: { expression: after.customer_id, type: int64 } }',
  '  window: { type: tumbling, size: 1m }',
  '  allowedLateness: 1h',
  '  aggregates:',
  '    orders: { fn: count }',
  '    revenue_cents: { fn: sum, expression: after.amount_cents, type: int64 }',
].join('\n');

/** Members of a consumer group and how many partitions each holds. */
async function partitionsPerMember(groupId: string): Promise<number[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { groups } = await admin.describeGroups([groupId]);
    return (groups[0]?.members ?? []).map((member) => {
      const assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
      return Object.values(assignment?.assignment ?? {}).reduce((sum, partitions) => sum + partitions.length, 0);
    });
  } finally {
    await admin.disconnect();
  }
}

const ordersEvents = await ordersTable(input);

describe('aggregate processor on two instances', () => {
  const dir = writeConnectorFiles({ 'aggregate.yaml': yaml });
  let first: DaemonProcess;
  let second: DaemonProcess;
  let producer: Producer;
  const orders = new OrderStream(ordersEvents, { customers: 16, stepMs: 40, jitterMs: 3_000 });

  beforeAll(async () => {
    await createTopic(kafka, input, 4);
    producer = await idempotentProducer(kafka);
    await orders.produce(producer, 400);
    first = new DaemonProcess(dir, await freePort());
    second = new DaemonProcess(dir, await freePort());
    await Promise.all([first.start(), second.start()]);
  });

  afterAll(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    if (process.env.TIDELINE_TEST_DAEMON_LOG) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${process.env.TIDELINE_TEST_DAEMON_LOG}.1`, first?.log.join('') ?? '');
      writeFileSync(`${process.env.TIDELINE_TEST_DAEMON_LOG}.2`, second?.log.join('') ?? '');
    }
    await producer?.disconnect();
  });

  it('splits the partitions, and after one is killed the other finishes with nothing lost or doubled', async () => {
    let producing = true;
    const writer = (async () => {
      while (producing) {
        await orders.produce(producer, 100);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();

    // Both instances hold partitions of both stages.
    for (const group of [`tideline-${name}`, `tideline-${name}.repartition`]) {
      const split = await eventually(`${group} split over two members`, async () => {
        const members = await partitionsPerMember(group);
        return members.length === 2 && members.every((count) => count > 0) ? members : undefined;
      }, 60_000);
      expect(split.reduce((sum, count) => sum + count, 0)).toBe(4);
    }

    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await first.kill();
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    producing = false;
    await writer;

    // The survivor takes every partition once the dead member's session expires.
    await eventually('one member holding all partitions', async () => {
      const members = await partitionsPerMember(`tideline-${name}`);
      return members.length === 1 && members[0] === 4 ? true : undefined;
    }, 60_000);

    const expected = perMinute(orders.rows);
    const latest = new Map<string, { orders: number; revenue: number }>();
    const versions = new Map<string, number[]>();
    await eventually('the results to equal the aggregation of every order', async () => {
      const messages = await readTopics(kafka, [output], () => true, { settleMs: 1_500 });
      latest.clear();
      versions.clear();
      for (const message of messages) {
        const payload = valueOf<ChangeEvent<ResultSourceBlock>>(message.value)!;
        const after = payload.after as { customer_id: number; window_start: number; orders: number; revenue_cents: number };
        const key = `${after.customer_id}@${after.window_start / 1000}`;
        latest.set(key, { orders: after.orders, revenue: after.revenue_cents });
        versions.set(key, [...(versions.get(key) ?? []), payload.source.lsn!]);
      }
      const matches = latest.size === expected.size && [...expected].every(([key, [count, revenue]]) => latest.get(key)?.orders === count && latest.get(key)?.revenue === revenue);
      return matches ? true : undefined;
    }, 120_000).catch((error: unknown) => {
      expect(Object.fromEntries(latest)).toEqual(Object.fromEntries([...expected].map(([key, [count, revenue]]) => [key, { orders: count, revenue }])));
      throw error;
    });
    for (const [key, list] of versions) expect({ key, list }).toEqual({ key, list: list.map((_, index) => index + 1) });
  });
});
