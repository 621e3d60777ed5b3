// Basic authentication as one step, shared by config rules (`auth`) and .htaccess (AuthType
// Basic): rate limit, credentials, verification (cached by the server; pending otherwise), then
// whether the known user is admitted. 401 asks who you are; 403 says a known user may not.
import { decision, type Decision } from '../decision.js';
import { parseBasic } from './basic.js';
import type { AuthPending, AuthState } from './request.js';

export interface Realm {
  realm: string;
  users: string;
  groups: string | undefined;
  /** The config key or file that asked for authentication, for messages. */
  key: string;
}

export type Authn =
  | { kind: 'admitted'; user: string }
  | { kind: 'refused'; decision: Decision; headers: Record<string, string> }
  | { kind: 'pending'; decision: Decision; headers: Record<string, string>; pending: AuthPending };

export function authenticate(
  realm: Realm,
  authorization: string | undefined,
  client: string,
  urlPath: string,
  state: AuthState | undefined,
  admit: (user: string, groups: ReadonlySet<string>) => { ok: boolean; wanted: string },
): Authn {
  const challenge = { 'WWW-Authenticate': `Basic realm="${realm.realm}", charset="UTF-8"` };
  const limited = state?.retryAfter(client);
  if (limited !== undefined) {
    return { kind: 'refused', decision: decision('deny', 'AUTH_RATE_LIMITED', urlPath, `too many failed logins from ${client}; retry after ${limited} s`, { key: realm.key, client }), headers: { 'Retry-After': String(limited) } };
  }
  const creds = parseBasic(authorization);
  if (!creds) {
    return { kind: 'refused', decision: decision('deny', 'AUTH_REQUIRED', urlPath, `${realm.key} requires authentication (realm "${realm.realm}"); no Basic credentials sent`, { key: realm.key }), headers: challenge };
  }
  const known = state?.lookup(realm.users, creds.user, creds.password);
  if (known === undefined) {
    // Not verified yet: a safe 401 unless the caller verifies and decides again.
    const d = decision('deny', 'AUTH_REQUIRED', urlPath, `credentials for "${creds.user}" not verified yet`, { key: realm.key });
    return { kind: 'pending', decision: d, headers: challenge, pending: { file: realm.users, user: creds.user, password: creds.password, client } };
  }
  if (!known) {
    state?.recordFailure(client);
    return { kind: 'refused', decision: decision('deny', 'AUTH_FAILED', urlPath, `user "${creds.user}": authentication failure for ${realm.key} (wrong user name or password)`, { key: realm.key }), headers: challenge };
  }
  const groups = realm.groups !== undefined && state ? state.groupsOf(realm.groups, creds.user) : new Set<string>();
  const verdict = admit(creds.user, groups);
  if (!verdict.ok) {
    return { kind: 'refused', decision: decision('deny', 'AUTH_FORBIDDEN', urlPath, `user "${creds.user}" is authenticated but not admitted by ${realm.key} (needs ${verdict.wanted})`, { key: realm.key }), headers: {} };
  }
  return { kind: 'admitted', user: creds.user };
}
