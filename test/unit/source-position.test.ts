/**
 * The PostgreSQL position as `_tideline_offsets` stores it: the Kafka side
 * keeps an opaque JSON value; the source's codec reads records written
 * before positions became opaque and writes the same bytes back.
 */
import { describe, expect, it } from 'vitest';
import { encodeSourcePosition, sourceOffsetRecord, SOURCE_OFFSETS_TOPIC } from '../../src/kafka/source-offsets.js';
import { decodePosition, encodePosition, positionAt, PositionFormatError } from '../../src/sources/postgres/position.js';

/** Records as earlier versions wrote them (JSON.stringify of the old SourceOffset). */
const BEFORE_SNAPSHOTS = '{"lsn":"24000000123","lsnText":"5/9682F07B","txId":771,"commitTs":1699999999000}';
const WITH_SNAPSHOT = '{"lsn":"0","lsnText":"0/0","txId":null,"commitTs":1700000000000,"snapshotted":["public.a"],"snapshot":{"lsn":"77","pending":["public.b","public.c"],"lastKey":["41","x"]}}';
const STREAMING = '{"lsn":"24000000123","lsnText":"5/9682F07B","txId":771,"commitTs":1699999999000,"snapshotted":["public.a","public.b"]}';

describe('PostgreSQL position codec', () => {
  it.each([BEFORE_SNAPSHOTS, WITH_SNAPSHOT, STREAMING])('reads a stored record and writes the same bytes back: %s', (stored) => {
    const position = decodePosition(JSON.parse(stored));
    expect(encodeSourcePosition(encodePosition(position)).toString()).toBe(stored);
  });

  it('reads a record written before snapshots existed (no snapshotted: every table)', () => {
    expect(decodePosition(JSON.parse(BEFORE_SNAPSHOTS))).toEqual({ lsn: '24000000123', lsnText: '5/9682F07B', txId: 771, commitTs: 1_699_999_999_000 });
  });

  it('builds positions in the stored field order', () => {
    const streamed = positionAt({ commitLsn: 24_000_000_123n, xid: 771, commitTimeMs: 1_699_999_999_000 }, 5n, ['public.a', 'public.b'], null);
    expect(sourceOffsetRecord('shop', encodePosition(streamed))).toEqual({ topic: SOURCE_OFFSETS_TOPIC, key: Buffer.from('shop'), value: Buffer.from(STREAMING) });
    const chunk = positionAt(null, -1n, ['public.a'], { lsn: '77', pending: ['public.b', 'public.c'], lastKey: ['41', 'x'] });
    expect(decodePosition(JSON.parse(JSON.stringify(encodePosition(chunk))))).toEqual({ ...chunk, lsn: '0', lsnText: '0/0', txId: null });
  });

  it('refuses what the source never wrote', () => {
    expect(() => decodePosition('5/9682F07B')).toThrow(PositionFormatError);
    expect(() => decodePosition({ lsn: 5, lsnText: '0/5', txId: null, commitTs: 1 })).toThrow('stored PostgreSQL position: lsn is 5');
    expect(() => decodePosition({ lsn: '5', lsnText: '0/5', txId: null, commitTs: 1, snapshot: { lsn: '5', pending: 'public.a', lastKey: null } })).toThrow('snapshot.pending');
  });
});
