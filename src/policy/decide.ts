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
//   6. mask: hideForbidden or a rule's hide turns a 403 into a real-looking 404
import type { Config } from '../config/load.js';
import { decision, type Decision } from '../decision.js';
import type { FsProbe } from '../fs/probe.js';
import type { ReasonName } from '../reasons.js';
import { methodClass, preflight, type RequestFacts } from './request.js';
import { resolve, type Resolution } from './resolve.js';
import type { Effective } from './effective.js';

export type { RequestFacts } from './request.js';

/** Refusals found while walking to the object, which Apache gives before its method check. */
const WALK_STAGE: ReadonlySet<ReasonName> = new Set<ReasonName>([
  'SEARCH_PERMISSION', 'SYMLINK_DENIED', 'SYMLINK_OWNER_MISMATCH', 'SYMLINK_ESCAPES_ROOT', 'SYMLINK_BROKEN',
  'DIRECTORY_REDIRECT', 'RESOURCES_EXHAUSTED', 'INTERNAL',
]);

export interface Decided extends Resolution {
  effective?: Effective;
  client?: string;
}

function mask(d: Decision, eff: Effective): void {
  if (d.status === 403 && eff.hide) {
    d.masked = { by: eff.source.hide, status: 404 };
    d.trace?.push({ check: 'mask', detail: `403 answered as 404 by ${eff.source.hide}` });
  }
}

export function decide(facts: RequestFacts, config: Config, probe: FsProbe, wantTrace = false): Decided {
  const pre = preflight(facts, config, wantTrace);
  if (pre.done) return { decision: pre.decision };
  const res = resolve({
    root: config.root,
    segments: pre.segments,
    trailingSlash: pre.trailingSlash,
    urlPath: pre.path,
    query: pre.query,
    effective: pre.effective,
    index: config.data.index,
    probe,
    trace: pre.trace,
  });
  let out: Decided = res;
  const cls = methodClass(facts.method);
  if (cls !== 'read' && !WALK_STAGE.has(res.decision.reason)) {
    if (res.file) probe.close(res.file.opened.fd);
    const d =
      cls === 'options' ? decision('options', 'OPTIONS', pre.path, `OPTIONS ${pre.path}`) :
      cls === 'refused' ? decision('deny', 'METHOD_NOT_ALLOWED', pre.path, `method ${facts.method} is not allowed for ${pre.path}`) :
      decision('deny', 'METHOD_NOT_IMPLEMENTED', pre.path, `Invalid method in request ${facts.method} ${pre.path}`);
    pre.trace?.push({ check: 'method', detail: `${facts.method}: ${d.reason}`, decided: true });
    out = { decision: d };
  }
  if (pre.trace) out.decision.trace = pre.trace;
  mask(out.decision, pre.effective);
  out.effective = pre.effective;
  out.client = pre.client.client;
  return out;
}
