// `keycard explain URLPATH`: the trace of the decision the server would make, one line per
// check in the order the server runs them, the deciding line marked, then the status, reason
// code and a hint. It calls the server's own decide(); nothing here re-implements a check.
import * as fs from 'node:fs';

import { decide } from '../policy/decide.js';
import { formatMode } from '../policy/perms.js';
import { REASONS } from '../reasons.js';
import { visibleStatus, type Decision } from '../decision.js';
import { STATUS_TEXT } from '../http/pages.js';
import { loadForCommand } from './config.js';
import { EXIT, parse, UsageError } from './args.js';
import { chooseJudge } from './judge.js';
import { hintFor } from './hint.js';
import { AuthVerifier } from '../auth/verifier.js';

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  ip: { type: 'string' },
  method: { type: 'string', short: 'X' },
  header: { type: 'string', short: 'H', multiple: true },
  as: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** Adds the object's own mode and owner to a decision about it, for the reader. */
export function enrich(d: Decision): void {
  const p = d.evidence.fsPath;
  if (p === undefined || d.evidence.mode !== undefined) return;
  try {
    const st = fs.lstatSync(p);
    d.evidence.mode = formatMode(st.mode);
    d.evidence.uid = st.uid;
    d.evidence.gid = st.gid;
  } catch {
    /* the path may not exist: nothing to add */
  }
}

export function isRefusal(d: Decision): boolean {
  return d.verdict === 'deny' || d.verdict === 'notFound' || d.verdict === 'error';
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS);
  const target = positionals[0];
  if (target === undefined || positionals.length > 1) throw new UsageError('explain takes one URL path, e.g. keycard explain /private/report.pdf');
  const method = ((values.method as string | undefined) ?? 'GET').toUpperCase();
  const headers: Record<string, string> = {};
  for (const h of (values.header as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i < 1) throw new UsageError(`--header ${JSON.stringify(h)} is not "Name: value"`);
    const name = h.slice(0, i).trim().toLowerCase();
    const value = h.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const forwardedFor = headers['x-forwarded-for'];
  const config = loadForCommand({ file: values.config as string | undefined });
  if (!config) return EXIT.USAGE;
  const judge = chooseJudge(config, values.as as string | undefined);
  const peer = (values.ip as string | undefined) ?? '127.0.0.1';
  const facts = { method, target, peer, forwardedFor, headers };
  const verifier = new AuthVerifier();
  let decided = decide(facts, config, judge.probe, true, verifier);
  if (decided.authPending) {
    const p = decided.authPending;
    await verifier.verify(p.file, p.user, p.password);
    decided = decide(facts, config, judge.probe, true, verifier);
  }
  if (decided.file) judge.probe.close(decided.file.opened.fd);
  const d = decided.decision;
  enrich(d);
  const hint = isRefusal(d) ? hintFor(d, config, judge.creds) : '';
  const status = visibleStatus(d);

  if (values.json) {
    const shown = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, k === 'authorization' ? '(hidden)' : v]));
    const out = { request: { method, target, ip: peer, headers: shown }, judgedAs: judge.label, config: config.file ?? null, root: config.root, decision: d, status, hint: hint || null };
    process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  } else {
    const lines: string[] = [];
    lines.push(`${method} ${target}  (client ${peer}${forwardedFor ? `, X-Forwarded-For: ${forwardedFor}` : ''})`);
    lines.push(`config: ${config.file ?? '(defaults)'}   root: ${config.root}`);
    lines.push(`judged as: ${judge.label}`);
    lines.push('');
    const trace = d.trace ?? [];
    const width = Math.max(...trace.map((t) => t.check.length), 6);
    trace.forEach((t, i) => {
      lines.push(`${t.decided ? '✗' : ' '} ${String(i + 1).padStart(2)}. ${t.check.padEnd(width)}  ${t.detail}`);
    });
    lines.push('');
    const r = REASONS[d.reason];
    lines.push(`→ ${status} ${STATUS_TEXT[status] ?? (status === 200 ? 'OK' : '')}  ${d.code} ${d.reason}${d.masked ? ` (a ${d.status} answered as 404 by ${d.masked.by})` : ''}`);
    lines.push(`  ${d.message}`);
    if (d.evidence.mode !== undefined && d.evidence.fsPath !== undefined) lines.push(`  ${d.evidence.fsPath}: ${d.evidence.mode}, uid ${d.evidence.uid}, gid ${d.evidence.gid}`);
    if (r.apache) lines.push(`  Apache: ${r.apache}`);
    if (hint) lines.push(`  hint: ${hint}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return isRefusal(d) ? EXIT.REFUSED : EXIT.OK;
}
