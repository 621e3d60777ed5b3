// The Decision: the one value every request produces. The response, the error log, `explain`
// and `audit` all render it; none of them decides anything on its own. Plain JSON-safe data.
import { REASONS, type ReasonName } from './reasons.js';

export type Verdict = 'allow' | 'listing' | 'options' | 'redirect' | 'deny' | 'notFound' | 'error';

export interface TraceStep {
  /** Which check: method, url, client, ip, rule, dotfiles, path, symlink, file, directory, mask. */
  check: string;
  detail: string;
  /** True on the step that decided the outcome. */
  decided?: boolean;
}

/** Facts about what decided, for logs and `explain`. Never sent to clients. */
export interface Evidence {
  fsPath?: string;
  errno?: string;
  /** `rules[2]`, `ip.deny`, `dotfiles`, `index`… the config key or rule that decided. */
  key?: string;
  glob?: string;
  cidr?: string;
  client?: string;
  mode?: string;
  uid?: number;
  gid?: number;
  linkTarget?: string;
}

export interface Decision {
  verdict: Verdict;
  status: number;
  reason: ReasonName;
  code: string;
  /** A sentence about this request, for the error log and explain. */
  message: string;
  /** The canonical URL path (decoded, dot segments removed), or the raw path when it could not be parsed. */
  urlPath: string;
  evidence: Evidence;
  /** For redirects: a path-absolute Location (never a scheme or `//`). */
  location?: string;
  /** Set when a 403 is answered as 404 by hideForbidden or a rule's `hide`. */
  masked?: { by: string; status: 404 };
  trace?: TraceStep[];
}

export function decision(verdict: Verdict, reason: ReasonName, urlPath: string, message: string, evidence: Evidence = {}): Decision {
  const r = REASONS[reason];
  return { verdict, status: r.status, reason, code: r.code, message, urlPath, evidence };
}

/** The status the client sees: a masked 403 is a 404. */
export function visibleStatus(d: Decision): number {
  return d.masked ? d.masked.status : d.status;
}

/** The reason the client may see: a masked decision shows exactly what a real 404 shows. */
export function visibleReason(d: Decision): ReasonName {
  return d.masked ? 'NOT_FOUND' : d.reason;
}
