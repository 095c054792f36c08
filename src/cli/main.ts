#!/usr/bin/env node
/**
 * The `tideline` command. Exit codes: 0 ok, 1 failure at run time, 2 bad
 * command line, 3 invalid connector files (see README.md).
 */
import { Command, CommanderError } from 'commander';
import { errorMessage } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { registerDemoWriter } from './commands/demo-writer.js';
import { registerKinds } from './commands/kinds.js';
import { registerRegistry } from './commands/registry.js';
import { registerReplay } from './commands/replay.js';
import { registerRun } from './commands/run.js';
import { registerSlots } from './commands/slots.js';
import { registerStatus } from './commands/status.js';
import { registerValidate } from './commands/validate.js';
import { ExitCode } from './exit-codes.js';

const program = new Command()
  .name('tideline')
  .description('Change-data-capture from PostgreSQL through Kafka into ClickHouse, exactly once.')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerRun(program);
registerValidate(program);
registerKinds(program);
registerSlots(program);
registerDemoWriter(program);
registerRegistry(program);
registerReplay(program);
registerStatus(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here with code 0; usage mistakes with 2.
    process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  } else {
    console.error(`tideline: ${redactSecrets(errorMessage(error))}`);
    process.exitCode = ExitCode.failure;
  }
}
