// CORS per rule (Fetch standard §3.2): a preflight from an origin, method or header the rule
// does not allow is refused with 403 and its own reason code; a simple request from an origin
// that is not allowed is served without Access-Control-Allow-Origin, so the browser blocks it.
// Pure: policy and request headers in, outcome and headers out.

export interface CorsPolicy {
  origins: readonly string[];
  methods: readonly string[];
  headers: readonly string[];
  credentials: boolean;
  maxAge?: number | undefined;
}

export type CorsOutcome =
  | { kind: 'none' }
  | { kind: 'preflight'; headers: Record<string, string> }
  | { kind: 'preflight-denied'; why: 'origin' | 'method' | 'headers'; detail: string }
  | { kind: 'actual'; headers: Record<string, string> }
  | { kind: 'actual-not-allowed'; headers: Record<string, string> };

// Headers a browser never asks permission for (CORS-safelisted request headers).
const SAFELISTED = new Set(['accept', 'accept-language', 'content-language', 'content-type', 'range']);

function originAllowed(p: CorsPolicy, origin: string): boolean {
  return p.origins.includes('*') || p.origins.includes(origin);
}

function allowOrigin(p: CorsPolicy, origin: string): Record<string, string> {
  // With credentials the origin must be echoed; `*` is not allowed there (config rejects it).
  const h: Record<string, string> = { 'Access-Control-Allow-Origin': p.origins.includes('*') && !p.credentials ? '*' : origin, Vary: 'Origin' };
  if (p.credentials) h['Access-Control-Allow-Credentials'] = 'true';
  return h;
}

export function evaluateCors(p: CorsPolicy, method: string, origin: string | undefined, requestMethod: string | undefined, requestHeaders: string | undefined): CorsOutcome {
  if (origin === undefined) return { kind: 'none' };
  const preflight = method === 'OPTIONS' && requestMethod !== undefined;
  if (!preflight) {
    return originAllowed(p, origin) ? { kind: 'actual', headers: allowOrigin(p, origin) } : { kind: 'actual-not-allowed', headers: { Vary: 'Origin' } };
  }
  if (!originAllowed(p, origin)) return { kind: 'preflight-denied', why: 'origin', detail: `origin ${origin} is not in cors.origins` };
  const m = requestMethod.trim().toUpperCase();
  const methods = p.methods.map((x) => x.toUpperCase());
  if (!methods.includes(m)) return { kind: 'preflight-denied', why: 'method', detail: `method ${m} is not in cors.methods` };
  const asked = (requestHeaders ?? '').split(',').map((h) => h.trim().toLowerCase()).filter(Boolean);
  const allowed = new Set(p.headers.map((h) => h.toLowerCase()));
  const refused = asked.filter((h) => !allowed.has(h) && !SAFELISTED.has(h));
  if (refused.length) return { kind: 'preflight-denied', why: 'headers', detail: `header ${refused.join(', ')} is not in cors.headers` };
  const headers = allowOrigin(p, origin);
  headers.Vary = 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers';
  headers['Access-Control-Allow-Methods'] = methods.join(', ');
  if (asked.length) headers['Access-Control-Allow-Headers'] = asked.join(', ');
  if (p.maxAge !== undefined) headers['Access-Control-Max-Age'] = String(p.maxAge);
  return { kind: 'preflight', headers };
}
