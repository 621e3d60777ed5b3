// The programmatic API: `import { createHandler, createServer } from 'keycard'`.
//
// Both take the same object as server.config.json (validated by the same zod schema, with the
// same defaults) or a Config already compiled by loadConfig. A relative `root` is resolved
// against `options.cwd`, else the process's working directory (the CLI resolves it against
// the config file's folder, which an object does not have).
//
//   http.createServer(createHandler({ root: 'public' }))            // plain node:http
//   app.use('/static', createHandler({ root: 'public' }))           // Express / Connect:
//                                                                   // 404 → next()
//   await createServer({ root: 'public', port: 8080 }).listen()    // a whole server
import path from 'node:path';
import type { Config, ConfigError } from './config/load.js';
import { formatConfigErrors, loadConfig } from './config/load.js';
import type { ConfigInput } from './config/schema.js';
import { CidrList } from './policy/ip.js';
import { createHandler as createRawHandler, type Handler, type HandlerOptions } from './http/handler.js';
import { createKeycardServer, type KeycardServer } from './server.js';
import { dropPrivileges } from './sys/users.js';

export { decide } from './policy/decide.js';
export type { Decided, RequestFacts } from './policy/decide.js';
export { kernelProbe, modesProbe } from './fs/probe.js';
export type { FsProbe, Opened, FileFacts } from './fs/probe.js';
export { REASONS, reasonByCode } from './reasons.js';
export type { Reason, ReasonName } from './reasons.js';
export type { Decision, Verdict, Evidence, TraceStep } from './decision.js';
export { visibleStatus, visibleReason } from './decision.js';
export { loadConfig, formatConfigErrors } from './config/load.js';
export type { Config, ConfigError, CompiledRule, LoadOptions, LoadResult } from './config/load.js';
export type { ConfigInput, ConfigData, RuleData } from './config/schema.js';
export type { Handler, HandlerOptions, Next } from './http/handler.js';
export type { KeycardServer } from './server.js';
export { VERSION } from './version.js';

export interface CompileOptions {
  /** Folder a relative `root` is resolved against. Default: process.cwd(). */
  cwd?: string;
}

export interface CreateHandlerOptions extends HandlerOptions, CompileOptions {}

/** A config object that does not validate; `errors` names each key and what is wrong with it. */
export class KeycardConfigError extends Error {
  readonly errors: readonly ConfigError[];
  constructor(errors: readonly ConfigError[]) {
    super(formatConfigErrors(errors, undefined));
    this.name = 'KeycardConfigError';
    this.errors = errors;
  }
}

function isCompiled(c: unknown): c is Config {
  return typeof c === 'object' && c !== null && 'data' in c && 'rules' in c && 'ipAllow' in c && (c as { ipAllow: unknown }).ipAllow instanceof CidrList;
}

/**
 * Validates and compiles a config object exactly as loadConfig compiles server.config.json
 * (the same schema, defaults and compile step: root, globs, CIDRs, auth files, bans), without a
 * file, the PORT variable or flags. Relative paths in it (root, auth files, bans) are resolved
 * against `options.cwd`, else the working directory. A Config already compiled is returned as
 * is. Throws KeycardConfigError.
 */
export function compileConfig(input: ConfigInput | Config, options: CompileOptions = {}): Config {
  if (isCompiled(input)) return input;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new KeycardConfigError([{ path: '(config)', message: 'the config must be an object' }]);
  }
  let raw: Record<string, unknown>;
  try {
    // A private copy holding only JSON: what a config file could say, nothing shared.
    raw = JSON.parse(JSON.stringify(input)) as Record<string, unknown>;
  } catch (err) {
    throw new KeycardConfigError([{ path: '(config)', message: `not representable as JSON: ${(err as Error).message}` }]);
  }
  const loaded = loadConfig({ raw, cwd: path.resolve(options.cwd ?? process.cwd()), env: {} });
  if (!loaded.ok) throw new KeycardConfigError(loaded.errors);
  return loaded.config;
}

function handlerOptions(options: CreateHandlerOptions): HandlerOptions {
  const out: HandlerOptions = {};
  if (options.accessLog !== undefined) out.accessLog = options.accessLog;
  if (options.errorLog !== undefined) out.errorLog = options.errorLog;
  if (options.probe !== undefined) out.probe = options.probe;
  return out;
}

/**
 * A request handler for node:http, Express or Connect: `(req, res, next?)`. Given `next`, it
 * answers GET and HEAD for what exists and may be served (and every refusal, 403 included),
 * and calls `next()` for a 404 and for any other method, so later routes get their turn.
 * Without `next` it answers everything, as the keycard server does.
 *
 * Logging follows the config: access lines on stdout when `accessLog` is on (the default),
 * the reason for each refusal on stderr; `options.accessLog` / `errorLog` redirect or silence
 * them. `user` and `group` are not applied here: a handler never changes the process's user.
 */
export function createHandler(config: ConfigInput | Config = {}, options: CreateHandlerOptions = {}): Handler {
  return createRawHandler(compileConfig(config, options), handlerOptions(options));
}

/**
 * A keycard server (node:http, with the CLI's limits and timeouts). `listen()` binds to
 * `host`/`port` (port 0 picks a free one) and then, as the CLI does, switches to `user` /
 * `group` when the config names them: that changes the user of the whole process, and needs
 * the process to start as root (or as that user already).
 */
export function createServer(config: ConfigInput | Config = {}, options: CreateHandlerOptions = {}): KeycardServer {
  const compiled = compileConfig(config, options);
  const ks = createKeycardServer(compiled, handlerOptions(options));
  const listen = ks.listen.bind(ks);
  ks.listen = async () => {
    const bound = await listen();
    if (compiled.data.user !== undefined) {
      try {
        dropPrivileges(compiled.data.user, compiled.data.group);
      } catch (err) {
        await ks.close();
        throw err;
      }
    }
    return bound;
  };
  return ks;
}
