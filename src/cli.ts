#!/usr/bin/env node
// The keycard command: subcommand dispatch. Exit codes live in cli/args.ts.
import { EXIT, HELP, parse, overridesFrom, SERVE_OPTIONS, UsageError } from './cli/args.js';
import { serve } from './cli/serve.js';
import { check } from './cli/check.js';
import { VERSION } from './version.js';

const SUBCOMMANDS = new Set(['serve', 'check', 'explain', 'audit', 'demo', 'export']);

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-v') {
    process.stdout.write(`keycard ${VERSION}\n`);
    return EXIT.OK;
  }
  const sub = argv[0] !== undefined && SUBCOMMANDS.has(argv[0]) ? argv[0] : 'serve';
  const rest = sub === argv[0] ? argv.slice(1) : argv;
  switch (sub) {
    case 'serve': {
      const { values, positionals } = parse(rest, SERVE_OPTIONS);
      if (values.help) {
        process.stdout.write(HELP);
        return EXIT.OK;
      }
      if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
      return serve({ file: values.config as string | undefined, overrides: overridesFrom(values, positionals[0]) });
    }
    case 'check': {
      const { values } = parse(rest, { config: { type: 'string', short: 'c' } });
      return check({ file: values.config as string | undefined });
    }
    default: {
      const mod = (await import(`./cli/${sub}.js`)) as { run(argv: string[]): Promise<number> | number };
      return mod.run(rest);
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`keycard: ${err.message}\nRun "keycard --help" for usage.\n`);
      process.exitCode = EXIT.USAGE;
    } else {
      process.stderr.write(`keycard: ${(err as Error).message ?? String(err)}\n`);
      process.exitCode = EXIT.FAILURE;
    }
  },
);
