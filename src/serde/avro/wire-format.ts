/**
 * Confluent's wire format: byte 0 (the "magic byte"), the schema id as a
 * big-endian int32, then the Avro binary of the value. JSON messages start
 * with `{` (or another JSON character), never with byte 0, so a reader tells
 * the two apart by the first byte.
 */
export const MAGIC_BYTE = 0;
export const HEADER_BYTES = 5;

/** True when `bytes` is in the Confluent wire format (starts with the magic byte). */
export function isConfluentFramed(bytes: Buffer): boolean {
  return bytes.length > 0 && bytes[0] === MAGIC_BYTE;
}

/** The schema id of a framed message, or undefined when it is too short to hold one. */
export function schemaIdOf(bytes: Buffer): number | undefined {
  return bytes.length >= HEADER_BYTES ? bytes.readInt32BE(1) : undefined;
}

/** Writes the header for `id` at the start of `target`. */
export function writeHeader(target: Buffer, id: number): void {
  target[0] = MAGIC_BYTE;
  target.writeInt32BE(id, 1);
}
