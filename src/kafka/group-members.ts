/**
 * Who is in a consumer group now (DescribeGroups): what `tideline replay` of
 * a processor checks before it moves the group's offsets, as Kafka's own
 * `kafka-consumer-groups --reset-offsets` refuses while a group has members.
 */
import type { Kafka } from 'kafkajs';
import { withAdmin } from './topics.js';

export interface GroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
}

export interface GroupMembers {
  groupId: string;
  /** Kafka's group state: Empty, Stable, PreparingRebalance, CompletingRebalance, Dead. */
  state: string;
  members: GroupMember[];
}

export async function describeGroupMembers(kafka: Kafka, groupIds: readonly string[]): Promise<GroupMembers[]> {
  if (groupIds.length === 0) return [];
  const { groups } = await withAdmin(kafka, (admin) => admin.describeGroups([...groupIds]));
  return groups.map((group) => ({
    groupId: group.groupId,
    state: group.state,
    members: group.members.map((member) => ({ memberId: member.memberId, clientId: member.clientId, clientHost: member.clientHost.replace(/^\//, '') })),
  }));
}

/** `group G: 2 members (tideline-x on 10.0.0.5, ...)` for the groups that have members. */
export function describeBusyGroups(groups: readonly GroupMembers[]): string {
  return groups
    .filter((group) => group.members.length > 0)
    .map((group) => `group ${group.groupId}: ${group.members.length} member${group.members.length > 1 ? 's' : ''} (${group.members.map((m) => `${m.clientId} on ${m.clientHost}`).join(', ')})`)
    .join('; ');
}
