// Stage one's outcome, remembered per config and request target. preflight() is a pure function
// of the request and the config; where the settings for a path read nothing of the request but
// its target (no IP ACL, bans, filters, CORS or authentication apply), its outcome for a GET or a
// HEAD is the same for every client, so it is worked out once. Only the client address, which
// the logs name, is derived afresh each time.
//
// Staleness: none. Nothing here reads the filesystem, and a reload makes a new Config, which
// starts with nothing remembered. What is kept is frozen, so no request can change what the next
// one gets.
import type { Config } from '../config/load.js';
import { copyOf, type Effective } from './effective.js';
import { clientAddress } from './ip.js';
import { preflight, type AuthState, type Preflight, type RequestFacts } from './request.js';
import { PARSED_LONGEST } from './url.js';

const BY_CONFIG = new WeakMap<Config, Map<string, Preflight>>();
/** Targets per config; past it the map starts afresh (a scan of random paths must not grow it). */
const KEPT = 1024;

/** Does nothing in these settings read the request beyond its target? */
function targetOnly(eff: Effective | undefined): boolean {
  return eff === undefined || (eff.ipAllow.size === 0 && eff.ipDeny.size === 0 && eff.filters.length === 0 && eff.cors === undefined && eff.auth === undefined);
}

/** preflight() without a trace, remembered where its outcome depends on the target alone. */
export function rememberedPreflight(facts: RequestFacts, config: Config, auth?: AuthState): Preflight {
  // Other methods meet filters and CORS differently, and are rare.
  if ((facts.method !== 'GET' && facts.method !== 'HEAD') || config.bans !== undefined || facts.target.length > PARSED_LONGEST) {
    return preflight(facts, config, false, auth);
  }
  let kept = BY_CONFIG.get(config);
  const hit = kept?.get(facts.target);
  if (hit !== undefined) return withClient(hit, facts, config);
  const pre = preflight(facts, config, false, auth);
  if (!targetOnly(pre.effective) || pre.headers !== undefined || (pre.done && pre.authPending !== undefined)) return pre;
  if (kept === undefined) BY_CONFIG.set(config, (kept = new Map()));
  if (kept.size >= KEPT) kept.clear();
  if (pre.done) Object.freeze(pre.decision);
  if (pre.effective) {
    Object.freeze(pre.effective.source);
    Object.freeze(pre.effective);
  }
  kept.set(facts.target, Object.freeze(pre));
  return withClient(pre, facts, config);
}

function withClient(kept: Preflight, facts: RequestFacts, config: Config): Preflight {
  // A refusal of the URL itself comes before the client is looked at, and names none.
  if (kept.done && kept.client === undefined) return kept;
  const client = clientAddress(facts.peer, facts.forwardedFor, config.trustProxy);
  // Built field by field (what is kept has no headers or pending credentials): spreading a
  // frozen object takes V8's slow path, about a microsecond a request.
  if (kept.done) {
    const out: Preflight = { done: true, decision: kept.decision, client };
    if (kept.effective !== undefined) out.effective = kept.effective;
    return out;
  }
  // The .htaccess stage adjusts the settings of its own request: it gets a copy.
  return {
    done: false, segments: kept.segments, trailingSlash: kept.trailingSlash, path: kept.path, query: kept.query,
    effective: config.data.htaccess ? copyOf(kept.effective) : kept.effective, client, trace: undefined, headers: undefined,
  };
}
