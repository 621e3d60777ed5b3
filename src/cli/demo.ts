// `keycard demo DIR`: writes a small site that shows every cause of 403 side by side, with its
// config and an index page that links to each case and says what to expect. The expectations
// live in the page (data-expect) so a test can request every link and hold the page to them.
import * as fs from 'node:fs';
import path from 'node:path';
import { escapeHtml } from '../http/pages.js';
import { lookupUser } from '../sys/users.js';
import { modesProbe } from '../fs/probe.js';
import { firstUnsearchable } from '../policy/walk.js';
import { EXIT, parse, UsageError } from './args.js';

interface Case {
  href: string;
  expect: number;
  code: string;
  what: string;
}

const CASES: Case[] = [
  { href: '/hello.txt', expect: 200, code: 'KC000', what: 'A plain file the server may read.' },
  { href: '/unreadable.txt', expect: 403, code: 'KC402', what: 'The file is mode 0000: the server process cannot read it (Apache: AH00132).' },
  { href: '/no-search/inside.txt', expect: 403, code: 'KC401', what: 'The directory no-search/ is mode 0644: readable, but without search (x) permission nothing inside it can be reached (AH00035).' },
  { href: '/no-search/missing.txt', expect: 403, code: 'KC401', what: 'Even a file that does not exist there is 403, not 404: the server cannot look.' },
  { href: '/.env', expect: 403, code: 'KC301', what: 'A dotfile, and dotfiles is "deny" (AH01630).' },
  { href: '/no-index/', expect: 403, code: 'KC501', what: 'A directory with no index.html, and listing is off (AH01276).' },
  { href: '/listed/', expect: 200, code: 'KC503', what: 'The same situation with listing turned on by rules[0].' },
  { href: '/unlistable/', expect: 403, code: 'KC502', what: 'Listing is on, but the directory is mode 0711: searchable, not readable (AH01275).' },
  { href: '/ip-only/page.txt', expect: 403, code: 'KC201', what: 'rules[1] allows only 203.0.113.0/24; you are on loopback.' },
  { href: '/rule-denied/page.txt', expect: 403, code: 'KC300', what: 'rules[2] says access: "deny" for /rule-denied/**.' },
  { href: '/link-out.txt', expect: 403, code: 'KC405', what: 'A symlink to ../outside/secret.txt, outside the document root; symlinks is "inside-root" (AH00037).' },
  { href: '/hidden/page.txt', expect: 404, code: 'KC300', what: 'rules[3] denies and hides: a 403 answered as a 404 that is byte for byte a real one.' },
  { href: '/nothing-here.txt', expect: 404, code: 'KC400', what: 'Really not there, for comparison.' },
];

function indexPage(): string {
  const rows = CASES.map(
    (c) =>
      `<tr data-expect="${c.expect}" data-code="${c.code}"><td><a href="${escapeHtml(c.href)}">${escapeHtml(c.href)}</a></td><td>${c.expect}</td><td>${c.code}</td><td>${escapeHtml(c.what)}</td></tr>`,
  ).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keycard demo: every cause of 403</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .4rem; border-bottom: 1px solid #ddd; vertical-align: top; }
</style>
</head>
<body>
<h1>Every cause of 403, side by side</h1>
<p>Each link meets one cause. The status and reason code are what keycard answers; run
<code>keycard explain PATH --config server.config.json</code> for the whole trace of any of them,
and <code>keycard audit --config server.config.json</code> for the whole site.</p>
<table>
<tr><th>Link</th><th>Status</th><th>Code</th><th>Why</th></tr>
${rows}
</table>
</body>
</html>
`;
}

export function writeDemo(dir: string): { config: string; asRoot: boolean; warning: string } {
  const asRoot = process.getuid?.() === 0;
  const site = path.join(dir, 'site');
  const w = (rel: string, content: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  };
  w('outside/secret.txt', 'This file is outside the document root.\n');
  w('site/index.html', indexPage());
  w('site/hello.txt', 'Hello from the keycard demo.\n');
  w('site/unreadable.txt', 'You should not be able to read this over HTTP.\n');
  w('site/no-search/inside.txt', 'Behind a directory without search permission.\n');
  w('site/.env', 'SECRET=demo\n');
  w('site/no-index/readme.txt', 'A directory without an index.\n');
  w('site/listed/readme.txt', 'This directory is listed.\n');
  w('site/listed/notes.txt', 'Listed too.\n');
  w('site/unlistable/readme.txt', 'Reachable by name, but the directory cannot be listed.\n');
  w('site/ip-only/page.txt', 'Only for 203.0.113.0/24.\n');
  w('site/rule-denied/page.txt', 'Denied by a rule.\n');
  w('site/hidden/page.txt', 'Denied and hidden.\n');
  fs.symlinkSync('../outside/secret.txt', path.join(site, 'link-out.txt'));
  fs.chmodSync(path.join(site, 'unreadable.txt'), 0o000);
  fs.chmodSync(path.join(site, 'no-search'), 0o644);
  fs.chmodSync(path.join(site, 'unlistable'), 0o711);
  // mkdtemp-style 0700 parents would hide everything from an unprivileged server.
  fs.chmodSync(dir, 0o755);
  const config: Record<string, unknown> = {
    root: 'site',
    host: '127.0.0.1',
    port: 8080,
    listing: false,
    dotfiles: 'deny',
    symlinks: 'inside-root',
    rules: [
      { path: '/{listed,unlistable}/**', listing: true },
      { path: '/ip-only/**', ip: { allow: ['203.0.113.0/24'] } },
      { path: '/rule-denied/**', access: 'deny' },
      { path: '/hidden/**', access: 'deny', hide: true },
    ],
  };
  // As root the kernel would let everything through; the demo then runs as nobody.
  let warning = '';
  const nobody = asRoot ? lookupUser('nobody') : undefined;
  if (nobody) {
    config.user = 'nobody';
    const blocked = firstUnsearchable(site, modesProbe(nobody));
    if (blocked) warning = `warning: "nobody" cannot search ${blocked.path}, so every request would be 403 (KC401); move the demo, or chmod o+x ${blocked.path}\n`;
  }
  const file = path.join(dir, 'server.config.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
  return { config: file, asRoot, warning };
}

export async function run(argv: string[]): Promise<number> {
  const { positionals } = parse(argv, {});
  const dir = positionals[0];
  if (dir === undefined || positionals.length > 1) throw new UsageError('demo takes one directory, e.g. keycard demo ./keycard-demo');
  const abs = path.resolve(dir);
  if (fs.existsSync(abs)) {
    if (!fs.statSync(abs).isDirectory()) throw new UsageError(`${abs} exists and is not a directory`);
    if (fs.readdirSync(abs).length > 0) {
      process.stderr.write(`keycard: ${abs} is not empty; demo writes only into a new or empty directory\n`);
      return EXIT.USAGE;
    }
  }
  fs.mkdirSync(abs, { recursive: true });
  const { config, asRoot, warning } = writeDemo(abs);
  if (warning) process.stderr.write(`keycard: ${warning}`);
  process.stdout.write(
    `demo site written to ${abs}\n` +
      (asRoot ? 'the config runs the server as "nobody": as root, file modes would not refuse anything\n' : '') +
      `serve it with:\n  keycard serve --config ${config}\nthen open http://127.0.0.1:8080/\n`,
  );
  return EXIT.OK;
}
