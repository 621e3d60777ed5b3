// `keycard export apache|nginx [--config FILE]`: print the effective policy as an Apache 2.4
// virtual host or an nginx server block, with a `# keycard:` line for each thing the target
// cannot express exactly. The translation itself is pure (src/export/); this only loads the
// config and writes the text.

import { exportApache } from '../export/apache.js';
import { exportNginx } from '../export/nginx.js';
import { loadForCommand } from './config.js';
import { EXIT, parse, UsageError } from './args.js';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
} as const;

const TARGETS = { apache: exportApache, nginx: exportNginx } as const;

export function run(argv: string[]): number {
  const { values, positionals } = parse(argv, OPTIONS);
  const target = positionals[0];
  if (target === undefined) throw new UsageError('export needs a target: apache or nginx');
  if (!Object.hasOwn(TARGETS, target)) throw new UsageError(`unknown export target ${JSON.stringify(target)} (expected apache or nginx)`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const file = values.config as string | undefined;
  // The root need not exist here: a config can be exported for the machine that will serve it.
  const config = loadForCommand({ file, rootMayBeMissing: true });
  if (!config) return EXIT.USAGE;
  process.stdout.write(TARGETS[target as keyof typeof TARGETS](config));
  return EXIT.OK;
}
