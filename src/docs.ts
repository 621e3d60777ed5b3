// The reason-code reference (docs/reasons.md), rendered from the registry so the two cannot drift.
import { REASONS } from './reasons.js';

export function renderReasonsDoc(): string {
  const rows = Object.values(REASONS).map((r) => `| ${r.code} | \`${r.name}\` | ${r.status} | ${r.summary} | ${r.hint || '—'} | ${r.apache ?? '—'} |`);
  return [
    '# keycard reason codes',
    '',
    'Generated from `src/reasons.ts` by `npm run docs`; a test fails when this file is out of date.',
    'Every response, error-log line, `explain` trace and `audit` row carries one of these codes. A code',
    'is never reused or renumbered. The hundreds digit is the stage of the pipeline that decided:',
    '1xx request line and URL, 2xx client address, 3xx configuration rules, 4xx filesystem and symlinks,',
    '5xx directories, 9xx internal.',
    '',
    '| code | name | status | what happened | how to change it | Apache |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
