// Stage one of every decision, before the filesystem is touched: the request line, the URL, the
// client address, the IP ACL, path rules and dotfiles. Pure: request facts and config in, either
// a final Decision or the canonical path and settings the filesystem stage needs.
//
// The order is Apache's (shared/APACHE.md §2), and it is policy: a missing dotfile is 403, not
// 404, because access control runs before any existence check, and so existence never leaks.
import type { Config } from '../config/load.js';
import { decision, type Decision, type TraceStep } from '../decision.js';
import type { ReasonName } from '../reasons.js';
import { effectiveFor, type Effective } from './effective.js';
import { clientAddress, parseAddr, type ClientAddress } from './ip.js';
import { parseRequestTarget } from './url.js';
import { evaluateFilter } from './filters.js';
import { evaluateCors } from './cors.js';
import { authenticate } from './authn.js';

export interface RequestFacts {
  method: string;
  /** The request target exactly as received. */
  target: string;
  /** TCP peer address as the socket reports it. */
  peer: string;
  /** X-Forwarded-For, if present (joined when repeated). */
  forwardedFor: string | undefined;
  /** The request headers (lower-case names), for filters, CORS and authentication. */
  headers?: Readonly<Record<string, string | string[] | undefined>> | undefined;
}

/** Credentials seen by the auth check and not yet verified: the caller awaits verify() and decides again. */
export interface AuthPending {
  file: string;
  user: string;
  password: string;
  client: string;
}

/** What the auth check needs from the running server: cached verdicts and failure counts. */
export interface AuthState {
  lookup(file: string, user: string, password: string): boolean | undefined;
  groupsOf(file: string, user: string): ReadonlySet<string>;
  recordFailure(client: string): void;
  retryAfter(client: string): number | undefined;
}

/**
 * Methods keycard answers; anything else that is a known HTTP method is 405, the rest 501.
 * "Known" is Apache's method registry (http_protocol.c: the RFC 9110 methods, WebDAV and
 * DeltaV) plus SEARCH and QUERY; PURGE, LINK, MKCALENDAR and the like are 501, as in Apache.
 */
export const SERVED_METHODS = ['GET', 'HEAD', 'OPTIONS'] as const;
export const ALLOW_HEADER = 'GET, HEAD, OPTIONS';
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'TRACE', 'CONNECT', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK',
  'VERSION-CONTROL', 'CHECKOUT', 'UNCHECKOUT', 'CHECKIN', 'UPDATE', 'LABEL', 'REPORT', 'MKWORKSPACE', 'MKACTIVITY', 'BASELINE-CONTROL', 'MERGE', 'SEARCH', 'QUERY']);

/** Longest request target decided on (Apache's LimitRequestLine is 8190); longer is 414. */
export const MAX_TARGET_LENGTH = 8190;

export type MethodClass = 'read' | 'options' | 'refused' | 'unknown';
export function methodClass(method: string): MethodClass {
  if (method === 'GET' || method === 'HEAD') return 'read';
  if (method === 'OPTIONS') return 'options';
  return KNOWN_METHODS.has(method) ? 'refused' : 'unknown';
}

export type Preflight =
  | { done: true; decision: Decision; effective?: Effective; client?: ClientAddress; headers?: Record<string, string>; authPending?: AuthPending }
  | { done: false; segments: readonly string[]; trailingSlash: boolean; path: string; query: string; effective: Effective; client: ClientAddress; trace: TraceStep[] | undefined; headers: Record<string, string> | undefined };

/** The trace label of the check that produced each stage-one refusal. */
const STAGE_OF: Partial<Record<ReasonName, string>> = {
  URI_TOO_LONG: 'url', BAD_ESCAPE: 'url', PATH_ABOVE_ROOT: 'url', ENCODED_SLASH: 'url', BAD_REQUEST_TARGET: 'url', NOT_UTF8: 'url',
  BANNED: 'bans', IP_DENIED: 'ip', IP_NOT_ALLOWED: 'ip', RULE_DENIED: 'access',
  FILTER_METHOD: 'filter', FILTER_USER_AGENT: 'filter', FILTER_HEADER: 'filter', FILTER_QUERY: 'filter',
  DOTFILE_DENIED: 'dotfiles', DOTFILE_IGNORED: 'dotfiles', CORS_DENIED: 'cors',
  AUTH_REQUIRED: 'auth', AUTH_FAILED: 'auth', AUTH_FORBIDDEN: 'auth', AUTH_RATE_LIMITED: 'auth',
};

function refuse(d: Decision, trace: TraceStep[] | undefined, eff?: Effective, client?: ClientAddress): Preflight {
  if (trace) {
    trace.push({ check: STAGE_OF[d.reason] ?? 'decision', detail: d.message, decided: true });
    d.trace = trace;
  }
  if (eff?.hide && d.status === 403) {
    d.masked = { by: eff.source.hide, status: 404 };
    trace?.push({ check: 'mask', detail: `403 answered as 404 by ${eff.source.hide}` });
  }
  const out: Preflight = { done: true, decision: d };
  if (eff) out.effective = eff;
  if (client) out.client = client;
  return out;
}

/** JSON.stringify of a string, without its cost for the common printable-ASCII name. */
function quote(s: string): string {
  return PLAIN.test(s) ? `"${s}"` : JSON.stringify(s);
}
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

function header(facts: RequestFacts, name: string): string | undefined {
  const v = facts.headers?.[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function preflight(facts: RequestFacts, config: Config, wantTrace = false, auth?: AuthState): Preflight {
  const trace: TraceStep[] | undefined = wantTrace ? [] : undefined;
  trace?.push({ check: 'method', detail: `${facts.method} (${methodClass(facts.method)})` });

  if (facts.target.length > MAX_TARGET_LENGTH) {
    trace?.push({ check: 'url', detail: `request target of ${facts.target.length} characters` });
    return refuse(decision('deny', 'URI_TOO_LONG', facts.target.slice(0, 64) + '…', `request target of ${facts.target.length} characters exceeds the limit of ${MAX_TARGET_LENGTH}`, { key: 'url' }), trace);
  }
  // `OPTIONS *` asks about the server as a whole (RFC 9110 §9.3.7); Apache answers 200.
  if (facts.target === '*' && facts.method === 'OPTIONS') {
    trace?.push({ check: 'url', detail: 'asterisk-form: the server as a whole', decided: true });
    const d = decision('options', 'OPTIONS', '*', 'OPTIONS * (the server as a whole)');
    if (trace) d.trace = trace;
    return { done: true, decision: d };
  }
  const url = parseRequestTarget(facts.target);
  if (!url.ok) {
    const messages = {
      BAD_ESCAPE: `invalid URI path (${url.raw}): malformed percent-escape`,
      PATH_ABOVE_ROOT: `invalid URI path (${url.raw}): ".." climbs above the root`,
      ENCODED_SLASH: `found %2f (encoded '/') or %00 in URI path (${url.raw}), returning 404`,
      BAD_REQUEST_TARGET: `request target ${JSON.stringify(url.raw)} is not an absolute path`,
      NOT_UTF8: `URI path (${url.raw}) does not decode to UTF-8`,
    } as const;
    const verdict = url.reason === 'ENCODED_SLASH' || url.reason === 'NOT_UTF8' ? 'notFound' : 'deny';
    trace?.push({ check: 'url', detail: `raw ${JSON.stringify(facts.target)}` });
    return refuse(decision(verdict, url.reason, url.raw, messages[url.reason], { key: 'url' }), trace);
  }
  trace?.push({ check: 'url', detail: `${JSON.stringify(facts.target)} → canonical ${url.path}` });

  const eff = effectiveFor(config, url.path);
  if (trace) {
    if (eff.matched.length === 0) trace.push({ check: 'rule', detail: 'no rule matches' });
    for (const r of eff.matched) trace.push({ check: 'rule', detail: `rules[${r.index}] ${JSON.stringify(r.glob)} matches` });
  }

  const client = clientAddress(facts.peer, facts.forwardedFor, config.trustProxy);
  trace?.push({ check: 'client', detail: `${client.client} (${client.via})` });

  const addr = parseAddr(client.client);
  if (config.bans && addr) {
    const ban = config.bans.find(addr);
    if (ban) {
      const until = ban.expires !== undefined ? ` until ${new Date(ban.expires).toISOString()}` : '';
      return refuse(decision('deny', 'BANNED', url.path, `client ${client.client} is suspended by ${config.bans.file}:${ban.line} (${ban.text})${until}`, { key: 'bans', cidr: ban.text, client: client.client }), trace, eff, client);
    }
  }
  if (eff.ipDeny.size > 0 || eff.ipAllow.size > 0) {
    const denied = addr ? eff.ipDeny.find(addr) : undefined;
    if (denied !== undefined) {
      return refuse(decision('deny', 'IP_DENIED', url.path, `client ${client.client} denied by server configuration: matches ${eff.source.ipDeny} ${denied}`, { key: eff.source.ipDeny, cidr: denied, client: client.client }), trace, eff, client);
    }
    if (eff.ipAllow.size > 0 && (addr === undefined || eff.ipAllow.find(addr) === undefined)) {
      return refuse(decision('deny', 'IP_NOT_ALLOWED', url.path, `client ${client.client} denied by server configuration: not in ${eff.source.ipAllow}`, { key: eff.source.ipAllow, client: client.client }), trace, eff, client);
    }
    trace?.push({ check: 'ip', detail: `${client.client} passes ${eff.source.ipDeny}/${eff.source.ipAllow}` });
  } else trace?.push({ check: 'ip', detail: 'no IP ACL applies' });

  if (eff.access === 'deny') {
    const rule = config.rules.find((r) => `rules[${r.index}].access` === eff.source.access);
    const evidence = rule ? { key: eff.source.access, glob: rule.glob } : { key: eff.source.access };
    return refuse(decision('deny', 'RULE_DENIED', url.path, `client denied by server configuration: ${eff.source.access} is "deny"${rule ? ` for ${JSON.stringify(rule.glob)}` : ''}`, evidence), trace, eff, client);
  }

  for (const { key, filter } of eff.filters) {
    const hit = evaluateFilter(filter, { method: facts.method, headers: facts.headers ?? {}, query: url.query });
    if (hit) return refuse(decision('deny', hit.reason, url.path, `request refused by ${key}: ${hit.detail}`, { key }), trace, eff, client);
  }
  if (eff.filters.length) trace?.push({ check: 'filter', detail: `passes ${eff.filters.map((f) => f.key).join(', ')}` });

  const dotSegment = url.dotSegment;
  if (dotSegment !== undefined && eff.dotfiles !== 'allow') {
    if (eff.dotfiles === 'deny') {
      return refuse(decision('deny', 'DOTFILE_DENIED', url.path, `client denied by server configuration: segment ${quote(dotSegment)} starts with "." and ${eff.source.dotfiles} is "deny"`, { key: eff.source.dotfiles }), trace, eff, client);
    }
    return refuse(decision('notFound', 'DOTFILE_IGNORED', url.path, `segment ${quote(dotSegment)} starts with "." and ${eff.source.dotfiles} is "ignore"`, { key: eff.source.dotfiles }), trace, eff, client);
  }
  trace?.push({ check: 'dotfiles', detail: dotSegment === undefined ? 'no segment starts with "."' : `${eff.source.dotfiles} is "allow"` });

  // CORS before authentication: a browser never sends credentials with a preflight.
  let corsHeaders: Record<string, string> | undefined;
  if (eff.cors) {
    const c = evaluateCors(eff.cors, facts.method, header(facts, 'origin'), header(facts, 'access-control-request-method'), header(facts, 'access-control-request-headers'));
    if (c.kind === 'preflight-denied') {
      return refuse(decision('deny', 'CORS_DENIED', url.path, `CORS preflight refused by ${eff.source.cors}: ${c.detail}`, { key: eff.source.cors }), trace, eff, client);
    }
    if (c.kind === 'preflight') {
      trace?.push({ check: 'cors', detail: `preflight allowed by ${eff.source.cors}`, decided: true });
      const d = decision('options', 'CORS_PREFLIGHT', url.path, `CORS preflight allowed by ${eff.source.cors}`, { key: eff.source.cors });
      if (trace) d.trace = trace;
      return { done: true, decision: d, effective: eff, client, headers: c.headers };
    }
    if (c.kind !== 'none') {
      corsHeaders = c.headers;
      trace?.push({ check: 'cors', detail: c.kind === 'actual' ? `origin allowed by ${eff.source.cors}` : `origin not allowed by ${eff.source.cors}: no Access-Control-Allow-Origin (the browser blocks the response)` });
    }
  }

  if (eff.auth) {
    const a = eff.auth;
    const r = authenticate({ realm: a.realm, users: a.users, groups: a.groups, key: a.key }, header(facts, 'authorization'), client.client, url.path, auth, (user, groups) => ({
      ok: a.require.some((q) => q.kind === 'valid-user' || (q.kind === 'user' && q.names.includes(user)) || (q.kind === 'group' && q.names.some((g) => groups.has(g)))),
      wanted: `${a.key}.require: ` + a.require.map((q) => (q.kind === 'valid-user' ? 'valid-user' : `${q.kind} ${q.names.join(' ')}`)).join(' or '),
    }));
    if (r.kind === 'pending') return { done: true, decision: r.decision, effective: eff, client, headers: { ...corsHeaders, ...r.headers }, authPending: r.pending };
    if (r.kind === 'refused') {
      const out = refuse(r.decision, trace, eff, client);
      if (out.done) out.headers = { ...corsHeaders, ...r.headers };
      return out;
    }
    trace?.push({ check: 'auth', detail: `user "${r.user}" admitted by ${a.key}` });
  }

  return { done: false, segments: url.segments, trailingSlash: url.trailingSlash, path: url.path, query: url.query, effective: eff, client, trace, headers: corsHeaders };
}
