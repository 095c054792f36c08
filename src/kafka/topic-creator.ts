/** Creates output topics the first time a processor writes to them (the broker does not auto-create). */
import type { Admin, Kafka } from 'kafkajs';
import { SerialQueue } from '../core/serial-queue.js';
import { ensureTopics } from './topics.js';

export class TopicCreator {
  private readonly known = new Set<string>();
  private admin: Admin | null = null;
  /** Concurrent batches create topics one at a time (two creating the same topic would fail). */
  private readonly queue = new SerialQueue();

  constructor(private readonly kafka: Kafka, private readonly partitions: number, private readonly configs: Record<string, string> = {}) {}

  ensure(topics: Iterable<string>): Promise<void> {
    const wanted = [...new Set(topics)];
    if (wanted.every((topic) => this.known.has(topic))) return Promise.resolve();
    return this.queue.run(() => this.create(wanted));
  }

  private async create(topics: string[]): Promise<void> {
    const missing = topics.filter((topic) => !this.known.has(topic));
    if (missing.length === 0) return;
    if (!this.admin) {
      this.admin = this.kafka.admin();
      await this.admin.connect();
    }
    await ensureTopics(this.admin, missing.map((topic) => ({ topic, partitions: this.partitions, configs: this.configs })));
    for (const topic of missing) this.known.add(topic);
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = null;
  }
}
