/**
 * Quick rejoin after a crash: a stable member identity across restarts.
 *
 * A consumer killed with SIGKILL never sends LeaveGroup. The coordinator keeps
 * it as a member until its session times out, and a restarted instance that
 * joins meanwhile waits in the rebalance for the dead member to rejoin: about
 * one session timeout (10 s) before anything is read again.
 *
 * Kafka's answer is static membership (KIP-345, `group.instance.id`), which
 * kafkajs does not implement. This does the part of it that matters here:
 * every member tags its subscription metadata (the assignor's userData, which
 * DescribeGroups returns) with the daemon's instance id. Before joining, a
 * starting consumer looks for members of its group with its own tag. Such a
 * member is an earlier incarnation of this very connector on this instance,
 * left behind by a crash, and is removed with a LeaveGroup on its behalf. The
 * join then completes at once.
 *
 * Instance ids: TIDELINE_INSTANCE_ID, else the host name. Two daemons that
 * run the same connector must have different ids (distinct hosts or pods
 * already do). If they share one, each start removes the other's member as
 * well; that costs the other a rejoin (a rebalance), not data: sinks filter
 * writes by ownership and processors are fenced by their transactional ids.
 */
import { hostname } from 'node:os';
import type { Kafka, PartitionAssigner } from 'kafkajs';
import { AssignerProtocol, PartitionAssigners } from './kafkajs.js';
import type { Logger } from '../core/logger.js';
import { errorMessage } from '../core/errors.js';

/** This daemon's member identity in consumer groups. */
export function instanceId(): string {
  return process.env.TIDELINE_INSTANCE_ID?.trim() || hostname();
}

/** kafkajs's round-robin assigner, with `tag` as the userData of the member's subscription. */
export function taggedRoundRobin(tag: string): PartitionAssigner {
  return (config) => {
    const inner = PartitionAssigners.roundRobin(config);
    return {
      name: inner.name,
      version: inner.version,
      assign: (group) => inner.assign(group),
      protocol: ({ topics }) => ({
        name: inner.name,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: inner.version, topics, userData: Buffer.from(tag) }),
      }),
    };
  };
}

/** The member ids of `group` whose subscription carries `tag`. */
export function membersTagged(members: readonly { memberId: string; memberMetadata: Buffer }[], tag: string): string[] {
  const found: string[] = [];
  for (const member of members) {
    if (member.memberMetadata.length === 0) continue;
    try {
      const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
      if (metadata?.userData?.toString() === tag) found.push(member.memberId);
    } catch {
      // Another client's protocol: not ours.
    }
  }
  return found;
}

interface CoordinatorBroker {
  leaveGroup(request: { groupId: string; memberId: string }): Promise<unknown>;
}
interface InternalCluster {
  connect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  disconnect(): Promise<void>;
  findGroupCoordinator(request: { groupId: string }): Promise<CoordinatorBroker>;
}

/**
 * kafkajs keeps its cluster factory behind a private symbol; LeaveGroup for
 * another member id has no public API. Null when a kafkajs upgrade moved it
 * (the restart then waits for the session timeout, as without this module).
 */
function internalCluster(kafka: Kafka): InternalCluster | null {
  const symbol = Object.getOwnPropertySymbols(kafka).find((candidate) => candidate.description === 'private:Kafka:createCluster');
  const create = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol];
  return typeof create === 'function' ? (create as (options: object) => InternalCluster)({}) : null;
}

/**
 * Removes the members of `groupId` that an earlier run of this instance left
 * behind (see the module comment). Never fails the caller: at worst the join
 * waits for the session timeout. Returns the member ids removed.
 */
export async function removeEarlierIncarnations(kafka: Kafka, groupId: string, tag: string, logger: Logger): Promise<string[]> {
  const admin = kafka.admin();
  let cluster: InternalCluster | null = null;
  try {
    await admin.connect();
    // A client connected to its seed broker knows no brokers until it reads
    // metadata; a request that needs one first fails and is retried after
    // kafkajs's initialRetryTime (300 ms). Metadata first: one round trip.
    await admin.fetchTopicMetadata({ topics: [] });
    const { groups } = await admin.describeGroups([groupId]);
    const stale = membersTagged(groups[0]?.members ?? [], tag);
    if (stale.length === 0) return [];
    cluster = internalCluster(kafka);
    if (!cluster) {
      logger.debug({ groupId }, 'kafkajs has no reachable cluster factory: an earlier member of this instance waits for its session timeout');
      return [];
    }
    await cluster.connect();
    await cluster.refreshMetadata();
    const coordinator = await cluster.findGroupCoordinator({ groupId });
    const removed: string[] = [];
    for (const memberId of stale) {
      // UNKNOWN_MEMBER_ID: it expired or left meanwhile, which is as good.
      await coordinator.leaveGroup({ groupId, memberId }).then(
        () => removed.push(memberId),
        (error: unknown) => logger.debug({ groupId, memberId, err: errorMessage(error) }, 'earlier member already gone'),
      );
    }
    if (removed.length > 0) logger.info({ groupId, members: removed.length }, 'removed the consumer-group member a crash of this instance left behind');
    return removed;
  } catch (error) {
    logger.warn({ groupId, err: errorMessage(error) }, 'could not check the consumer group for members left by a crash; joining may wait for their session timeout');
    return [];
  } finally {
    await cluster?.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
