// Request filters, the WAF-like cause of 403: refuse by method, by User-Agent, by a header's
// presence or value, or by the query string. Patterns are wildcards (`*`, `?`) compiled to
// anchored regular expressions with everything else escaped, so a configured pattern can never
// be a catastrophic regular expression.

export interface FilterSpec {
  methods?: readonly string[] | undefined;
  userAgents?: readonly string[] | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
  query?: readonly string[] | undefined;
}

export interface CompiledFilter {
  methods: ReadonlySet<string>;
  userAgents: readonly RegExp[];
  headers: readonly [string, RegExp][];
  query: readonly RegExp[];
}

export function wildcard(pattern: string, caseInsensitive = false): RegExp {
  let re = '';
  for (const ch of pattern) re += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  // `.*` runs are merged: a pattern of many stars stays linear to match.
  return new RegExp(`^${re.replace(/(\.\*)+/g, '.*')}$`, caseInsensitive ? 'is' : 's');
}

export function compileFilter(spec: FilterSpec): CompiledFilter {
  return {
    methods: new Set((spec.methods ?? []).map((m) => m.toUpperCase())),
    userAgents: (spec.userAgents ?? []).map((p) => wildcard(p, true)),
    headers: Object.entries(spec.headers ?? {}).map(([k, v]) => [k.toLowerCase(), wildcard(v)] as [string, RegExp]),
    query: (spec.query ?? []).map((p) => wildcard(p)),
  };
}

export type FilterHit = { reason: 'FILTER_METHOD' | 'FILTER_USER_AGENT' | 'FILTER_HEADER' | 'FILTER_QUERY'; detail: string };

export function evaluateFilter(f: CompiledFilter, req: { method: string; headers: Readonly<Record<string, string | string[] | undefined>>; query: string }): FilterHit | undefined {
  if (f.methods.has(req.method)) return { reason: 'FILTER_METHOD', detail: `method ${req.method} is filtered` };
  const ua = req.headers['user-agent'];
  const uaText = Array.isArray(ua) ? ua.join(' ') : ua ?? '';
  for (const re of f.userAgents) if (re.test(uaText)) return { reason: 'FILTER_USER_AGENT', detail: `User-Agent matches ${re.source}` };
  for (const [name, re] of f.headers) {
    const v = req.headers[name];
    if (v === undefined) continue;
    const text = Array.isArray(v) ? v.join(', ') : v;
    if (re.test(text)) return { reason: 'FILTER_HEADER', detail: `header ${name} matches ${re.source}` };
  }
  for (const re of f.query) if (re.test(req.query)) return { reason: 'FILTER_QUERY', detail: `query matches ${re.source}` };
  return undefined;
}
