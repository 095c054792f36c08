/**
 * Helpers for the short-lived consumer groups that read a compacted topic to
 * its end (source offsets, processor changelogs): a deadline on the read, and
 * removing the group afterwards.
 */
import type { Kafka } from 'kafkajs';

/** Resolves with `work`, or rejects with `message` once `timeoutMs` has passed. */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deletes a throwaway group; the group would expire by itself, so failing to delete it early is harmless. */
export async function deleteGroupQuietly(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    // Expires by itself.
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
