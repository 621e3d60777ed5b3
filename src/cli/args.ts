// Command-line parsing for every subcommand, with node:util parseArgs. Flags compile into the
// same config object as server.config.json (config/load.ts Overrides).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import path from 'node:path';
import type { Overrides } from '../config/load.js';

export const EXIT = { OK: 0, REFUSED: 1, FAILURE: 1, USAGE: 2 } as const;

export class UsageError extends Error {}

export const SERVE_OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  host: { type: 'string', short: 'H' },
  user: { type: 'string', short: 'u' },
  group: { type: 'string', short: 'g' },
  listing: { type: 'boolean' },
  'no-listing': { type: 'boolean' },
  dotfiles: { type: 'string' },
  allow: { type: 'string', multiple: true },
  deny: { type: 'string', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  workers: { type: 'string', short: 'w' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export type ArgValues = Record<string, string | boolean | string[] | undefined>;

export function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>): { values: ArgValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ArgValues, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function overridesFrom(values: ArgValues, root: string | undefined): Overrides {
  const o: Overrides = {};
  if (root !== undefined) o.root = root;
  if (typeof values.port === 'string') {
    if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) throw new UsageError(`--port ${JSON.stringify(values.port)} is not a port number (0-65535)`);
    o.port = Number(values.port);
  }
  if (typeof values.host === 'string') o.host = values.host;
  if (typeof values.user === 'string') o.user = values.user;
  if (typeof values.group === 'string') o.group = values.group;
  if (values.listing === true && values['no-listing'] === true) throw new UsageError('--listing and --no-listing contradict each other');
  if (values.listing === true) o.listing = true;
  if (values['no-listing'] === true) o.listing = false;
  if (typeof values.dotfiles === 'string') o.dotfiles = values.dotfiles;
  if (Array.isArray(values.allow)) o.allow = values.allow;
  if (Array.isArray(values.deny)) o.deny = values.deny;
  if (typeof values['tls-cert'] === 'string') o.tlsCert = path.resolve(values['tls-cert']);
  if (typeof values['tls-key'] === 'string') o.tlsKey = path.resolve(values['tls-key']);
  if (typeof values.workers === 'string') {
    if (values.workers === 'auto') o.workers = 'auto';
    else if (/^\d+$/.test(values.workers) && Number(values.workers) >= 1) o.workers = Number(values.workers);
    else throw new UsageError(`--workers ${JSON.stringify(values.workers)} is not a number of processes (1 or more) or "auto"`);
  }
  return o;
}

export const HELP = `keycard — a static file server that refuses the way a real web server refuses, and says why

Usage:
  keycard [serve] [ROOT] [--config FILE] [--port N] [--host ADDR] [--user NAME] [--group NAME]
          [--listing | --no-listing] [--dotfiles allow|deny|ignore] [--allow CIDR]... [--deny CIDR]...
          [--tls-cert FILE --tls-key FILE] [--workers N|auto]
  keycard check [--config FILE]        validate the config, print the effective settings
  keycard explain URLPATH [--ip ADDR] [--method M] [--header 'Name: value']... [--config FILE] [--as USER] [--json]
  keycard audit [ROOT] [--config FILE] [--ip ADDR] [--as USER] [--json]
  keycard demo DIR                     write a site that shows every cause of 403
  keycard export apache|nginx [--config FILE]  print the policy as an Apache vhost or nginx server block
  keycard --version

Without --config, ./server.config.json is used when it exists. Flags override the file; PORT in
the environment is used when --port is not given; --port 0 picks a free port.
Signals (serve): SIGHUP reloads the config (and certificates); SIGTERM/SIGINT stop accepting and
let in-flight responses finish (shutdownGrace); a second one exits at once.
Exit status: 0 success (explain: allowed), 1 refused or runtime error, 2 bad usage or config.
`;
