/**
 * Debezium's mask and hash (MaskStrings), checked against vectors computed
 * by Java itself (JDK 17, default charset UTF-8) with Debezium's code path:
 *
 *   MessageDigest md = MessageDigest.getInstance(algorithm);
 *   md.reset(); md.update(salt.getBytes());
 *   v1: md.digest(<ObjectOutputStream.writeObject(value) bytes>)   column.mask.hash.<alg>.with.salt.<salt>
 *   v2: md.digest(value.toString().getBytes())                     column.mask.hash.v2.<alg>.with.salt.<salt>
 *   then each byte as String.format("%02x").
 */
import { describe, expect, it } from 'vitest';
import { hasher, javaSerializedString, maskText, type HashAlgorithm } from '../../src/sources/postgres/column-masking.js';

const SALT = 's3cr\u00e9t';
const VALUES = ['alice@example.com', '', 'h\u00e9llo \u20ac', '\u{1F600} smile', 'nul\u0000byte', '\u00e9'.repeat(40_000)];

const JAVA_VECTORS: [HashAlgorithm, number, 1 | 2, string][] = [
  ['SHA-256', 0, 1, 'cbc02868c402e20abf1e67252339fee1ebdee4004c38d0851b144566c8346d01'],
  ['SHA-256', 0, 2, 'cc964e0853603c74b70a5fe6c95b38ca7835cc3357c10f7cea79165e5f06905f'],
  ['SHA-256', 1, 1, '40794087e404cebedaf465a5dd95aad5a46645afef1e85527351f2c1706d685d'],
  ['SHA-256', 1, 2, '10aa3fd9aa80a600f600f0907e80a11d494a87abe7d5d5283c50ace337bc4529'],
  ['SHA-256', 2, 1, '387c3f45f17dc7a55bd4d6f32d9d9c459d99ab2c52c53d3033e55f0fc06176bd'],
  ['SHA-256', 2, 2, '663c0dd8e322b701a073a3e2bf1c9e74761520e0ae69930156176407e92f6036'],
  ['SHA-256', 3, 1, '0ed46bb128be20b8c53bcfb6df5abd781e4e4ecb822e87f8a5625e6a951fbb15'],
  ['SHA-256', 3, 2, '3fb0d97a1bea97494a8c718736c09c9136faddf8ec7ad20c6bb749a7913e173e'],
  ['SHA-256', 4, 1, '35250125497022b80b28c954fa4896d00276e97a7193270f65c37093a2c8c322'],
  ['SHA-256', 4, 2, '188fd5fa0a3607a4ffa1aefdebb7a2948230bd1e6fd18b054326e20a8e2c59bd'],
  ['SHA-256', 5, 1, '0df41b42d7b5b125ca220e819c7d06b860acdd14e8fea1aa2d7511b96b896e36'],
  ['SHA-256', 5, 2, '91e1c6b581bad59fc3d38d383d4fa6910911918802057f3a37979b3607098f7a'],
  ['MD5', 0, 1, '9d9681a45a7acdf4cb80c5265b356bea'],
  ['MD5', 0, 2, '67c31b8309a73c8a59f9eafa1a81cba9'],
  ['MD5', 2, 1, '522b7fe6549e58cf5a718beaab2e6634'],
  ['MD5', 2, 2, 'e13120b81d84701b4ed496466804233f'],
  ['SHA-512/256', 0, 1, 'a11da7b6746e39a7303b448ed55986d82f7cb04b51b4a830566c5fe91eafc14a'],
  ['SHA-512/256', 0, 2, 'e32138e738173c46184f1ff00184480124aabfbeeb8325186b5efddc10d01c33'],
  ['SHA-512/256', 3, 1, '19edbc9db91c63ce1fe14dc76758b24da53067a80a6bfd1f3c0d390b8529da02'],
  ['SHA-512/256', 3, 2, 'b4e2e926f1948f1970d681b263668d43ebdc27c2cf736557f19e13c7dca06f5c'],
  ['SHA3-256', 2, 1, 'c5ce4056928e31385b97364f63db24c341afcd1c7e54e66df2b5ada11f12370c'],
  ['SHA3-256', 2, 2, '44ba76a07a06d415fae9c9fb109e87056e7d7b7e86d57d846c57a286f7c737e5'],
  ['SHA3-256', 3, 1, '42ad73452b2cf4e1653cbf5f0a39e179f40ee8e73aab559bc06dd2b389d7cb44'],
  ['SHA3-256', 3, 2, '4c22455fa492872e1b68afe10ece73467f0b247ec8cfb51b7604d71ef4a2ff8b'],
  ['SHA-1', 5, 1, 'bc174dae641c5a3fba0754ea94c4376aef0bec7f'],
  ['SHA-1', 5, 2, '901e26f5b4243176e59471ebedbe82821f55c2df'],
];

describe('column hash (Debezium column.mask.hash)', () => {
  it.each(JAVA_VECTORS)('%s of value %i, version %i, equals Java\'s digest', (algorithm, index, version, expected) => {
    expect(hasher({ algorithm, salt: SALT, version })(VALUES[index]!)).toBe(expected);
  });

  it('hashes salt bytes then value bytes: version 2 is the plain digest of their concatenation', async () => {
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update(`${SALT}alice@example.com`, 'utf8').digest('hex');
    expect(hasher({ algorithm: 'SHA-256', salt: SALT, version: 2 })('alice@example.com')).toBe(expected);
  });

  it('serializes a String as Java does: header, TC_STRING and u16 length, or TC_LONGSTRING and u64 length past 65535 bytes', () => {
    expect(javaSerializedString('ab').toString('hex')).toBe('aced00057400026162');
    // U+0000 is two bytes and each surrogate three in modified UTF-8.
    expect(javaSerializedString('\u0000\u{1F600}').toString('hex')).toBe('aced0005740008c080eda0bdedb880');
    const long = javaSerializedString('x'.repeat(70_000));
    expect(long.subarray(0, 13).toString('hex')).toBe('aced00057c0000000000011170');
    expect(long.length).toBe(13 + 70_000);
  });

  it('cuts the digest to the column length when shorter, and never pads', () => {
    const full = hasher({ algorithm: 'SHA-256', salt: SALT, version: 2 })('alice@example.com');
    expect(hasher({ algorithm: 'SHA-256', salt: SALT, version: 2 }, 10)('alice@example.com')).toBe(full.slice(0, 10));
    expect(hasher({ algorithm: 'SHA-256', salt: SALT, version: 2 }, 100)('alice@example.com')).toBe(full);
    expect(hasher({ algorithm: 'MD5', salt: SALT, version: 2 }, 40)('x')).toHaveLength(32);
  });

  it('gives the same output for the same input, and another for another salt', () => {
    const a = hasher({ algorithm: 'SHA-512', salt: 'one', version: 2 });
    const b = hasher({ algorithm: 'SHA-512', salt: 'one', version: 2 });
    expect(a('v')).toBe(b('v'));
    expect(a('v')).toMatch(/^[0-9a-f]{128}$/);
    expect(hasher({ algorithm: 'SHA-512', salt: 'two', version: 2 })('v')).not.toBe(a('v'));
  });
});

describe('column mask (Debezium column.mask.with.<n>.chars)', () => {
  it('is n asterisks', () => {
    expect(maskText(5)).toBe('*****');
    expect(maskText(1)).toBe('*');
  });
});
