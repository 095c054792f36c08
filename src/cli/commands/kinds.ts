import type { Command } from 'commander';
import { z } from 'zod';
import { connectorKinds } from '../../runtime/registry.js';

interface JsonSchemaProperty {
  description?: string;
  type?: string | string[];
  default?: unknown;
}

export function registerKinds(program: Command): void {
  program
    .command('kinds')
    .description('List connector kinds and the fields of their `config:` block.')
    .option('--json', 'print each kind\'s config as JSON Schema')
    .action((options: { json?: boolean }) => {
      for (const spec of connectorKinds.values()) {
        const schema = z.toJSONSchema(spec.configSchema, { io: 'input', unrepresentable: 'any' }) as {
          properties?: Record<string, JsonSchemaProperty>;
          required?: string[];
        };
        if (options.json) {
          console.log(JSON.stringify({ kind: spec.kind, role: spec.role, description: spec.description, config: schema }, null, 2));
          continue;
        }
        console.log(`${spec.kind} (${spec.role}): ${spec.description}`);
        const required = new Set(schema.required ?? []);
        for (const [field, property] of Object.entries(schema.properties ?? {})) {
          const flag = required.has(field) ? 'required' : property.default !== undefined ? `default ${JSON.stringify(property.default)}` : 'optional';
          console.log(`  ${field} (${flag}): ${property.description ?? ''}`);
        }
        console.log('');
      }
    });
}
