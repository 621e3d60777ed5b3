// The .htaccess stage of the decision, between the configuration checks and the filesystem:
// files named .ht* are refused, a directory whose .htaccess has a syntax error is 500 (as in
// Apache), Require and Order/Allow/Deny decide access (with Basic authentication when a
// user-based Require asks for it), and Options, DirectoryIndex and ErrorDocument adjust the
// settings the filesystem stage then uses.
import path from 'node:path';
import type { Config } from '../config/load.js';
import { decision, type Decision, type TraceStep } from '../decision.js';
import type { Effective } from '../policy/effective.js';
import { authenticate } from '../policy/authn.js';
import type { AuthPending, AuthState } from '../policy/request.js';
import { authorize, merge } from './evaluate.js';
import type { HtaccessReader } from './reader.js';

export type HtStage =
  | { done: false }
  | { done: true; decision: Decision; headers?: Record<string, string>; authPending?: AuthPending };

export interface HtInput {
  config: Config;
  segments: readonly string[];
  trailingSlash: boolean;
  urlPath: string;
  client: string;
  authorization: string | undefined;
  effective: Effective;
  auth: AuthState | undefined;
  reader: HtaccessReader;
  trace: TraceStep[] | undefined;
}

export function htaccessStage(i: HtInput): HtStage {
  const { config, urlPath, trace, effective: eff } = i;
  const htSegment = i.segments.find((s) => s.toLowerCase().startsWith('.ht'));
  if (htSegment !== undefined) {
    trace?.push({ check: 'htaccess', detail: `${JSON.stringify(htSegment)} is a .ht* file`, decided: true });
    return { done: true, decision: decision('deny', 'HTACCESS_FILE', urlPath, `client denied by server configuration: ${JSON.stringify(htSegment)} is a .ht* file`, { key: 'htaccess' }) };
  }
  const read = i.reader.along(config.root, i.segments);
  if ('errno' in read) {
    trace?.push({ check: 'htaccess', detail: `${read.file}: ${read.errno}`, decided: true });
    return { done: true, decision: decision('deny', 'HTACCESS_UNREADABLE', urlPath, `${read.file} pcfg_openfile: unable to check htaccess file, ensure it is readable and that '${path.dirname(read.file)}/' is executable (${read.errno})`, { fsPath: read.file, errno: read.errno }) };
  }
  if (read.files.length === 0) {
    trace?.push({ check: 'htaccess', detail: 'no .htaccess on the path' });
    return { done: false };
  }
  const basename = i.trailingSlash || i.segments.length === 0 ? undefined : i.segments[i.segments.length - 1];
  const m = merge(read.files, basename);
  trace?.push({ check: 'htaccess', detail: `read ${m.sources.join(', ')}` });
  if (m.errors.length) {
    const e = m.errors[0]!;
    trace?.push({ check: 'htaccess', detail: `${e.file}:${e.line}: ${e.message}`, decided: true });
    return { done: true, decision: decision('error', 'HTACCESS_ERROR', urlPath, `${e.file}: syntax error on line ${e.line}: ${e.message}`, { fsPath: e.file }) };
  }

  let v = authorize(m, i.client, undefined, new Set());
  if (v.result === 'denied-no-user') {
    const a = m.auth;
    if (a.type?.toLowerCase() !== 'basic' || a.userFile === undefined) {
      return { done: true, decision: decision('error', 'HTACCESS_ERROR', urlPath, `a user-based Require (${m.requireFrom}) needs AuthType Basic and AuthUserFile`, { fsPath: m.requireFrom ?? '' }) };
    }
    // Apache resolves a relative AuthUserFile against ServerRoot; keycard's is the config's folder.
    const base = config.file !== undefined ? path.dirname(config.file) : config.root;
    const realm = { realm: a.name ?? 'Restricted', users: path.resolve(base, a.userFile), groups: a.groupFile !== undefined ? path.resolve(base, a.groupFile) : undefined, key: m.requireFrom ?? '.htaccess' };
    const r = authenticate(realm, i.authorization, i.client, urlPath, i.auth, (user, groups) => {
      v = authorize(m, i.client, user, groups);
      return { ok: v.result === 'granted', wanted: v.detail };
    });
    if (r.kind === 'pending') return { done: true, decision: r.decision, headers: r.headers, authPending: r.pending };
    if (r.kind === 'refused') {
      trace?.push({ check: 'htaccess', detail: r.decision.message, decided: true });
      return { done: true, decision: r.decision, headers: r.headers };
    }
    trace?.push({ check: 'htaccess', detail: `user "${r.user}" admitted: ${v.detail}` });
  } else if (v.result !== 'granted') {
    trace?.push({ check: 'htaccess', detail: v.detail, decided: true });
    return { done: true, decision: decision('deny', 'HTACCESS_DENIED', urlPath, `client denied by server configuration: ${v.detail}`, { key: m.requireFrom ?? '.htaccess', client: i.client }) };
  } else trace?.push({ check: 'htaccess', detail: v.detail });

  // Settings for the filesystem stage.
  const from = m.sources[m.sources.length - 1]!;
  if (m.indexes !== undefined) [eff.listing, eff.source.listing] = [m.indexes, `${from} (Options)`];
  if (m.followSymlinks !== undefined || m.ownerMatch !== undefined) {
    eff.symlinks = m.followSymlinks ? 'follow' : m.ownerMatch ? 'owner-match' : 'deny';
    eff.source.symlinks = `${from} (Options)`;
  }
  if (m.directoryIndex !== undefined) eff.index = m.directoryIndex;
  if (Object.keys(m.errorDocuments).length) eff.errorDocuments = m.errorDocuments;
  return { done: false };
}
