/**
 * One replay of a processor at a time, held in Kafka: the replay is the
 * member of the consumer group `<lock group>` (subscribed to one of the
 * processor's input topics, paused: it reads nothing) for as long as it runs.
 *
 * After joining it looks at the group: alone, it holds the lock; with another
 * member, another replay is running and this one leaves and refuses. Of two
 * replays starting at once each may see the other and both refuse, but both
 * never go on (the one joining second always sees the first). A replay that
 * was killed stays a member until its session times out (10 s).
 *
 * The lock is what refuses a second replay clearly; the exclusion itself is
 * the replay's transactional id, which a second replay initializing it would
 * fence (processors/replay/processor-replay.ts).
 */
import type { Consumer, Kafka } from 'kafkajs';
import { deleteGroupQuietly } from './compacted-topic-reader.js';
import { describeGroupMembers, type GroupMember } from './group-members.js';

const JOIN_TIMEOUT_MS = 30_000;
const SESSION_TIMEOUT_MS = 10_000;

export class ReplayLock {
  private consumer: Consumer | null = null;

  constructor(
    private readonly kafka: Kafka,
    readonly groupId: string,
  ) {}

  /** Joins the lock group; returns the other members (empty: the lock is held). */
  async acquire(topic: string): Promise<GroupMember[]> {
    const consumer = this.kafka.consumer({ groupId: this.groupId, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: 1_000, maxWaitTimeInMs: 500 });
    this.consumer = consumer;
    let joined: (memberId: string) => void = () => undefined;
    const join = new Promise<string>((resolve) => (joined = resolve));
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      // Nothing is read: the member only holds its place in the group.
      consumer.pause([{ topic }]);
      joined(event.payload.memberId);
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: false });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async () => undefined });
    let timer: NodeJS.Timeout | undefined;
    let memberId: string;
    try {
      memberId = await Promise.race([join, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`could not join the replay lock group ${this.groupId} within ${JOIN_TIMEOUT_MS / 1000} s`)), JOIN_TIMEOUT_MS)))]);
    } finally {
      clearTimeout(timer);
    }
    // Every member is in the group once the join completed: this replay's and any other replay's.
    const [group] = await describeGroupMembers(this.kafka, [this.groupId]);
    const members = group?.members ?? [];
    return members.filter((member) => member.memberId !== memberId);
  }

  async release(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = null;
    if (!consumer) return;
    await consumer.disconnect().catch(() => undefined);
    // Left empty (Kafka refuses to delete a group another replay is a member of).
    await deleteGroupQuietly(this.kafka, this.groupId);
  }
}
