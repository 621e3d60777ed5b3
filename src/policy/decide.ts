// decide(): request facts in, Decision out. The whole pipeline, in Apache's order
// (shared/APACHE.md §2); the server, `explain` and `audit` all call this one function.
//
//   1. URL: decode, canonicalise, refuse a climb above the root (400) or an encoded / (404)
//   2. client address (trustProxy), IP ACL, path rules, dotfiles        — policy/request.ts
//   3. filesystem: open + fstat; the walk explains any anomaly: search
//      permission, symlink policy, missing, path info                 — policy/resolve.ts
//   4. directory: trailing-slash redirect, index files, listing
//   5. method: OPTIONS, 405 and 501 come after the walk, as in Apache, so a path refused by
//      configuration or by search permission says 403 whatever the method
//   6. mask: hideForbidden or a rule's hide turns a 403 into a real-looking 404, for every
//      method: a hidden path meets the method check a missing file would
import type { Config } from '../config/load.js';
import { decision, type Decision, type TraceStep } from '../decision.js';
import type { FsProbe } from '../fs/probe.js';
import type { ReasonName } from '../reasons.js';
import { methodClass, preflight, type AuthPending, type AuthState, type MethodClass, type RequestFacts } from './request.js';
import { resolve, type Resolution } from './resolve.js';
import { rememberedPreflight } from './remembered.js';
import type { Effective } from './effective.js';
import { htaccessStage } from '../htaccess/stage.js';
import { defaultReader, type HtaccessReader } from '../htaccess/reader.js';

export type { RequestFacts } from './request.js';

/** Refusals found while walking to the object, which Apache gives before its method check. */
const WALK_STAGE: ReadonlySet<ReasonName> = new Set<ReasonName>([
  'SEARCH_PERMISSION', 'SYMLINK_DENIED', 'SYMLINK_OWNER_MISMATCH', 'SYMLINK_ESCAPES_ROOT', 'SYMLINK_BROKEN',
  'DIRECTORY_REDIRECT', 'RESOURCES_EXHAUSTED', 'INTERNAL',
]);

export interface Decided extends Resolution {
  effective?: Effective;
  client?: string;
  /** Response headers the policy adds: CORS, WWW-Authenticate, Retry-After. */
  headers?: Record<string, string>;
  /** Credentials to verify (await, then decide again); never part of the Decision. */
  authPending?: AuthPending;
}

function mask(d: Decision, eff: Effective): void {
  if (d.status === 403 && eff.hide) {
    d.masked = { by: eff.source.hide, status: 404 };
    d.trace?.push({ check: 'mask', detail: `403 answered as 404 by ${eff.source.hide}` });
  }
}

function methodDecision(method: string, cls: MethodClass, path: string): Decision {
  return cls === 'options' ? decision('options', 'OPTIONS', path, `OPTIONS ${path}`) :
    cls === 'refused' ? decision('deny', 'METHOD_NOT_ALLOWED', path, `method ${method} is not allowed for ${path}`) :
    decision('deny', 'METHOD_NOT_IMPLEMENTED', path, `Invalid method in request ${method} ${path}`);
}

/**
 * SECURITY: a hidden 403 must look like a missing file for every method, and a missing file
 * answers OPTIONS with 200, DELETE with 405 and FOO with 501; so a masked refusal meets the
 * method check a missing file would, or `DELETE /secret` would tell hidden from absent.
 */
function unmaskForMethod(d: Decision, method: string, cls: MethodClass, trace: TraceStep[] | undefined): Decision {
  if (!d.masked || cls === 'read') return d;
  const m = methodDecision(method, cls, d.urlPath);
  m.message += ` (hidden: ${d.code} ${d.reason} answered as a missing file would be, by ${d.masked.by})`;
  if (trace) {
    // The method check now decides: exactly one step is marked.
    for (const t of trace) delete t.decided;
    trace.push({ check: 'method', detail: `${method} on a hidden path: answered as for a missing file`, decided: true });
    m.trace = trace;
  }
  return m;
}

export function decide(facts: RequestFacts, config: Config, probe: FsProbe, wantTrace = false, auth?: AuthState, htaccess?: HtaccessReader): Decided {
  const cls = methodClass(facts.method);
  const pre = wantTrace ? preflight(facts, config, true, auth) : rememberedPreflight(facts, config, auth);
  if (pre.done) {
    const out: Decided = { decision: unmaskForMethod(pre.decision, facts.method, cls, pre.decision.trace) };
    if (pre.effective) out.effective = pre.effective;
    if (pre.client) out.client = pre.client.client;
    if (pre.headers) out.headers = pre.headers;
    if (pre.authPending) out.authPending = pre.authPending;
    return out;
  }
  if (config.data.htaccess) {
    const authorization = facts.headers?.authorization;
    const ht = htaccessStage({
      config, segments: pre.segments, trailingSlash: pre.trailingSlash, urlPath: pre.path, client: pre.client.client,
      authorization: Array.isArray(authorization) ? authorization[0] : authorization, effective: pre.effective, auth, reader: htaccess ?? defaultReader, trace: pre.trace,
    });
    if (ht.done) {
      if (pre.trace) ht.decision.trace = pre.trace;
      mask(ht.decision, pre.effective);
      const out: Decided = { decision: unmaskForMethod(ht.decision, facts.method, cls, pre.trace), effective: pre.effective, client: pre.client.client };
      const headers = { ...pre.headers, ...ht.headers };
      if (Object.keys(headers).length) out.headers = headers;
      if (ht.authPending) out.authPending = ht.authPending;
      return out;
    }
  }
  const res = resolve({
    root: config.root,
    segments: pre.segments,
    trailingSlash: pre.trailingSlash,
    urlPath: pre.path,
    query: pre.query,
    effective: pre.effective,
    index: pre.effective.index ?? config.data.index,
    probe,
    trace: pre.trace,
  });
  let out: Decided = res;
  if (cls !== 'read' && !WALK_STAGE.has(res.decision.reason)) {
    if (res.file) probe.close(res.file.opened.fd);
    const d = methodDecision(facts.method, cls, pre.path);
    pre.trace?.push({ check: 'method', detail: `${facts.method}: ${d.reason}`, decided: true });
    out = { decision: d };
  }
  if (pre.trace) {
    // explain marks exactly one step as the one that decided.
    if (!pre.trace.some((t) => t.decided)) pre.trace.push({ check: 'decision', detail: out.decision.message, decided: true });
    out.decision.trace = pre.trace;
  }
  mask(out.decision, pre.effective);
  out.decision = unmaskForMethod(out.decision, facts.method, cls, pre.trace);
  out.effective = pre.effective;
  out.client = pre.client.client;
  if (pre.headers) out.headers = pre.headers;
  return out;
}
