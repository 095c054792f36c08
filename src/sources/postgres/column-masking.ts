/**
 * Debezium's column masks, done at the source so the clear value never
 * reaches Kafka (Debezium's MaskStrings):
 *
 * - `column.mask.with.<n>.chars`: every value, null included, becomes n `*`.
 * - `column.mask.hash[.v2].<algorithm>.with.salt.<salt>`: the lowercase hex
 *   digest of the salt's UTF-8 bytes followed by the value's bytes, cut to the
 *   column's declared length (varchar(n), char(n)) when shorter than the digest
 *   (never padded). Version 2 hashes the value's UTF-8 bytes; version 1
 *   (Debezium's default property) hashes Java's serialization of the value as a
 *   `java.lang.String` (ObjectOutputStream: stream header, TC_STRING, modified
 *   UTF-8), so a pipeline moving from Debezium keeps its hashes. Null stays null.
 *
 * The value hashed is PostgreSQL's text form (what pgoutput sends, with the
 * session settings of replication-stream.ts), which for text columns is the
 * value itself, as in Debezium.
 */
import { createHash } from 'node:crypto';

/** Java's standard MessageDigest names (as Debezium's properties spell them) to OpenSSL's. */
export const HASH_ALGORITHMS = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA-512/224': 'sha512-224',
  'SHA-512/256': 'sha512-256',
  'SHA3-224': 'sha3-224',
  'SHA3-256': 'sha3-256',
  'SHA3-384': 'sha3-384',
  'SHA3-512': 'sha3-512',
} as const;

export type HashAlgorithm = keyof typeof HASH_ALGORITHMS;

export interface HashSettings {
  algorithm: HashAlgorithm;
  salt: string;
  /** 2: the value's UTF-8 bytes (Debezium's `column.mask.hash.v2`); 1: its Java serialization (`column.mask.hash`). */
  version: 1 | 2;
}

/** The text that replaces every value of a masked column (Debezium: n asterisks). */
export function maskText(length: number): string {
  return '*'.repeat(length);
}

/**
 * A function from a value's text to its hash, with the salt's bytes and the
 * digest chosen once. `maxLength`: the column's declared length, if any.
 */
export function hasher(settings: HashSettings, maxLength?: number): (text: string) => string {
  const algorithm = HASH_ALGORITHMS[settings.algorithm];
  const salt = Buffer.from(settings.salt, 'utf8');
  const bytes = settings.version === 1 ? javaSerializedString : (text: string) => Buffer.from(text, 'utf8');
  const cut = maxLength !== undefined && maxLength > 0 ? maxLength : Infinity;
  return (text) => {
    const hex = createHash(algorithm).update(salt).update(bytes(text)).digest('hex');
    return hex.length > cut ? hex.slice(0, cut) : hex;
  };
}

/** ObjectOutputStream.writeObject(String) of a fresh stream: 0xACED 0005, then TC_STRING + u16 length or TC_LONGSTRING + u64 length, then modified UTF-8. */
export function javaSerializedString(text: string): Buffer {
  const utf = modifiedUtf8(text);
  const long = utf.length > 0xffff;
  const header = Buffer.alloc(long ? 13 : 7);
  header.writeUInt16BE(0xaced, 0);
  header.writeUInt16BE(0x0005, 2);
  if (long) {
    header[4] = 0x7c;
    header.writeBigUInt64BE(BigInt(utf.length), 5);
  } else {
    header[4] = 0x74;
    header.writeUInt16BE(utf.length, 5);
  }
  return Buffer.concat([header, utf]);
}

/** Java's modified UTF-8 (DataOutput.writeUTF): per UTF-16 unit, U+0000 as two bytes, surrogates as three bytes each. */
function modifiedUtf8(text: string): Buffer {
  const out: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit >= 0x0001 && unit <= 0x007f) out.push(unit);
    else if (unit <= 0x07ff) out.push(0xc0 | (unit >> 6), 0x80 | (unit & 0x3f));
    else out.push(0xe0 | (unit >> 12), 0x80 | ((unit >> 6) & 0x3f), 0x80 | (unit & 0x3f));
  }
  return Buffer.from(out);
}
