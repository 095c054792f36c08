import type { Command } from 'commander';
import { loadConnectorFiles } from '../../config/load.js';
import { ConfigError, formatProblem } from '../../core/errors.js';
import { connectorKinds } from '../../runtime/registry.js';
import { ExitCode } from '../exit-codes.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check connector files and report every mistake (file, field, problem) at once.')
    .argument('<paths...>', 'connector files or directories of .yaml/.yml files')
    .action((paths: string[]) => {
      try {
        const definitions = loadConnectorFiles(paths, connectorKinds);
        for (const definition of definitions) {
          console.log(`ok  ${definition.file}: ${definition.name} (${definition.kind}${definition.enabled ? '' : ', disabled'})`);
        }
        process.exitCode = ExitCode.ok;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        for (const problem of error.problems) console.error(formatProblem(problem));
        console.error(`${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} found`);
        process.exitCode = ExitCode.invalidConfig;
      }
    });
}
