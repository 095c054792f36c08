import { describe, expect, it } from 'vitest';
import { AssignerProtocol } from 'kafkajs';
import { instanceId, membersTagged, taggedRoundRobin } from '../../src/kafka/group-membership.js';

describe('consumer-group member identity', () => {
  const assigner = taggedRoundRobin('host-a')({ cluster: {} as never, groupId: 'g', logger: {} as never });

  it('tags the subscription with the instance id and keeps the round-robin protocol', () => {
    const protocol = assigner.protocol({ topics: ['t1', 't2'] });
    expect(protocol.name).toBe('RoundRobinAssigner');
    const decoded = AssignerProtocol.MemberMetadata.decode(protocol.metadata)!;
    expect(decoded.topics).toEqual(['t1', 't2']);
    expect(decoded.userData.toString()).toBe('host-a');
  });

  it('finds only the members with the same tag', () => {
    const metadata = (tag: string | null) =>
      AssignerProtocol.MemberMetadata.encode({ version: 0, topics: ['t'], userData: tag === null ? Buffer.alloc(0) : Buffer.from(tag) });
    const members = [
      { memberId: 'm1', memberMetadata: metadata('host-a') },
      { memberId: 'm2', memberMetadata: metadata('host-b') },
      { memberId: 'm3', memberMetadata: metadata(null) },
      { memberId: 'm4', memberMetadata: Buffer.alloc(0) },
      { memberId: 'm5', memberMetadata: Buffer.from([1, 2, 3]) },
      { memberId: 'm6', memberMetadata: metadata('host-a') },
    ];
    expect(membersTagged(members, 'host-a')).toEqual(['m1', 'm6']);
    expect(membersTagged(members, 'host-c')).toEqual([]);
  });

  it('takes the instance id from TIDELINE_INSTANCE_ID, else the host name', () => {
    const before = process.env.TIDELINE_INSTANCE_ID;
    try {
      process.env.TIDELINE_INSTANCE_ID = ' pod-1 ';
      expect(instanceId()).toBe('pod-1');
      delete process.env.TIDELINE_INSTANCE_ID;
      expect(instanceId().length).toBeGreaterThan(0);
    } finally {
      if (before === undefined) delete process.env.TIDELINE_INSTANCE_ID;
      else process.env.TIDELINE_INSTANCE_ID = before;
    }
  });
});
