/**
 * The pgoutput stream of one slot, through pg-logical-replication.
 *
 * Two library defaults are turned off on purpose: automatic acknowledgement and
 * the periodic status timer both confirm the last *received* LSN to PostgreSQL,
 * which would let the slot forget changes not yet committed to Kafka. Here the
 * source confirms only what is durable, and answers keepalives with that.
 * Flow control is on: the stream pauses while a message is being handled, so a
 * slow Kafka holds the WAL in PostgreSQL rather than in our memory.
 */
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

/** Session settings that fix the text form of values pgoutput sends. */
export const SESSION_OPTIONS = ['DateStyle=ISO', 'TimeZone=UTC', 'IntervalStyle=iso_8601', 'extra_float_digits=3', 'bytea_output=hex']
  .map((setting) => `-c ${setting}`)
  .join(' ');

/**
 * pgoutput with values left as PostgreSQL's text: the library would parse them
 * with node-pg's global type parsers (dates to JS Date, losing microseconds);
 * the source maps text to Debezium values itself. Parsing is synchronous and in
 * stream order, so swapping a Relation's parsers here applies to every row after it.
 */
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer);
    if (message.tag === 'relation') {
      for (const column of message.columns) column.parser = (raw: unknown) => raw;
    }
    return message;
  }
}

export interface ReplicationStreamOptions {
  url: string;
  slot: string;
  publication: string;
  /** Handles messages one at a time, in order; the stream waits for it. */
  onMessage(lsn: string, message: Pgoutput.Message): Promise<void>;
  /** The LSN that may be confirmed now (the last durable commit), in text form. */
  durableLsn(): string;
  onError(error: Error): void;
}

export class ReplicationStream {
  private readonly service: LogicalReplicationService;

  constructor(private readonly options: ReplicationStreamOptions) {
    this.service = new LogicalReplicationService(
      { connectionString: options.url, options: SESSION_OPTIONS, application_name: `tideline:${options.slot}` },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } },
    );
    this.service.on('data', (lsn: string, message: Pgoutput.Message) => options.onMessage(lsn, message));
    this.service.on('heartbeat', (_lsn: string, _timestamp: number, shouldRespond: boolean) => {
      // The server asks for a reply when it has heard nothing for half of
      // wal_sender_timeout; without one it drops the connection.
      if (shouldRespond) void this.acknowledge(options.durableLsn());
    });
    this.service.on('error', (error: Error) => options.onError(error));
  }

  /** Starts streaming; resolves when the stream ends (stop() or connection loss). */
  async run(): Promise<void> {
    // messages: heartbeats (pg_logical_emit_message) arrive as transactions the source commits and confirms.
    const plugin = new TextPgoutputPlugin({ protoVersion: 1, publicationNames: [this.options.publication], messages: true });
    await this.service.subscribe(plugin, this.options.slot);
  }

  /**
   * Confirms to PostgreSQL that everything up to `lsn` is durable. The library
   * sends lsn + 1, so confirming a transaction's commit LSN makes PostgreSQL skip
   * exactly that transaction and those before it after a restart.
   */
  async acknowledge(lsn: string): Promise<void> {
    await this.service.acknowledge(lsn);
  }

  async stop(): Promise<void> {
    await this.service.destroy();
  }
}
