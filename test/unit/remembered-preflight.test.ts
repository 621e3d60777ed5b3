// Stage one remembered (policy/remembered.ts): a decision made before the filesystem is worked
// out once per config and target, and only where nothing else of the request goes into it. Each
// case asks the same target twice or more, so the second answer comes from what was kept.
import { describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../src/config/load.js';
import { decide } from '../../src/policy/decide.js';
import { rememberedPreflight } from '../../src/policy/remembered.js';
import { memProbe } from '../helpers/memfs.js';

const ROOT = '/kc/www';
const probe = memProbe({ '/kc': { kind: 'dir', mode: 0o755, uid: 0 }, [ROOT]: { kind: 'dir', mode: 0o755, uid: 0 }, [`${ROOT}/a.txt`]: { kind: 'file', mode: 0o644, uid: 0 } }, { uid: 65534, gid: 65534, groups: [] });

function configOf(raw: Record<string, unknown> = {}): Config {
  const r = loadConfig({ raw: { root: ROOT, ...raw }, env: {}, rootMayBeMissing: true });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

const ask = (config: Config, target: string, opts: { method?: string; peer?: string; xff?: string; headers?: Record<string, string> } = {}) =>
  decide({ method: opts.method ?? 'GET', target, peer: opts.peer ?? '127.0.0.1', forwardedFor: opts.xff, headers: opts.headers ?? {} }, config, probe);

describe('what stage one remembers', () => {
  it('a dotfile refusal is decided once per config and target: the same frozen decision each time', () => {
    const config = configOf();
    const first = ask(config, '/.env');
    const again = ask(config, '/.env');
    expect(again.decision.reason).toBe('DOTFILE_DENIED');
    expect(again.decision).toBe(first.decision);
    expect(Object.isFrozen(again.decision)).toBe(true);
  });

  it('names each request’s own client, though the decision is kept', () => {
    const config = configOf();
    expect(ask(config, '/.git/config', { peer: '10.0.0.1' }).client).toBe('10.0.0.1');
    expect(ask(config, '/.git/config', { peer: '10.0.0.2' }).client).toBe('10.0.0.2');
    expect(ask(config, '/.git/config', { peer: '::ffff:10.0.0.3' }).client).toBe('10.0.0.3');
  });

  it('a reloaded config decides afresh', () => {
    expect(ask(configOf(), '/.well-known.txt').decision.reason).toBe('DOTFILE_DENIED');
    expect(ask(configOf({ dotfiles: 'allow' }), '/.well-known.txt').decision.reason).toBe('NOT_FOUND');
    expect(ask(configOf({ dotfiles: 'ignore' }), '/.well-known.txt').decision.reason).toBe('DOTFILE_IGNORED');
  });

  it('an IP ACL is judged for every client, in either order', () => {
    const config = configOf({ ip: { deny: ['10.0.0.1'] } });
    expect(ask(config, '/.env', { peer: '10.0.0.1' }).decision.reason).toBe('IP_DENIED');
    expect(ask(config, '/.env', { peer: '10.0.0.2' }).decision.reason).toBe('DOTFILE_DENIED');
    expect(ask(config, '/.env', { peer: '10.0.0.1' }).decision.reason).toBe('IP_DENIED');
    const rule = configOf({ rules: [{ path: '/staff/**', ip: { allow: ['10.0.0.0/8'] } }] });
    expect(ask(rule, '/staff/a.txt', { peer: '10.1.2.3' }).decision.reason).toBe('NOT_FOUND');
    expect(ask(rule, '/staff/a.txt', { peer: '192.0.2.1' }).decision.reason).toBe('IP_NOT_ALLOWED');
  });

  it('behind a trusted proxy, each request’s X-Forwarded-For names its client and meets the ACL', () => {
    const config = configOf({ trustProxy: ['127.0.0.1'], ip: { deny: ['203.0.113.9'] } });
    expect(ask(config, '/a.txt', { xff: '198.51.100.1' }).decision.reason).toBe('OK');
    expect(ask(config, '/a.txt', { xff: '203.0.113.9' }).decision.reason).toBe('IP_DENIED');
    const open = configOf({ trustProxy: ['127.0.0.1'] });
    expect(ask(open, '/.env', { xff: '198.51.100.1' }).client).toBe('198.51.100.1');
    expect(ask(open, '/.env', { xff: '198.51.100.2' }).client).toBe('198.51.100.2');
  });

  it('filters, CORS and authentication read the request, so each request meets them', () => {
    const filtered = configOf({ rules: [{ path: '/api/**', filter: { userAgents: ['*bot*'] } }] });
    expect(ask(filtered, '/api/a.txt', { headers: { 'user-agent': 'a bot' } }).decision.reason).toBe('FILTER_USER_AGENT');
    expect(ask(filtered, '/api/a.txt', { headers: { 'user-agent': 'a browser' } }).decision.reason).toBe('NOT_FOUND');
    expect(ask(filtered, '/api/a.txt', { headers: { 'user-agent': 'a bot' } }).decision.reason).toBe('FILTER_USER_AGENT');
    const cors = configOf({ rules: [{ path: '/**', cors: { origins: ['https://a.example'] } }] });
    expect(ask(cors, '/a.txt', { headers: { origin: 'https://a.example' } }).headers?.['Access-Control-Allow-Origin']).toBe('https://a.example');
    expect(ask(cors, '/a.txt', { headers: { origin: 'https://b.example' } }).headers?.['Access-Control-Allow-Origin']).toBeUndefined();
  });

  it('a method other than GET and HEAD is decided afresh, and meets its own check', () => {
    const config = configOf();
    expect(ask(config, '/a.txt').decision.reason).toBe('OK');
    expect(ask(config, '/a.txt', { method: 'DELETE' }).decision.reason).toBe('METHOD_NOT_ALLOWED');
    expect(ask(config, '/a.txt', { method: 'HEAD' }).decision.reason).toBe('OK');
  });

  it('a refusal of the URL itself is kept too, and names no client', () => {
    const config = configOf();
    for (let i = 0; i < 2; i++) {
      const d = ask(config, '/%2e%2e/%2e%2e/etc/passwd');
      expect(d.decision.reason).toBe('PATH_ABOVE_ROOT');
      expect(d.client).toBeUndefined();
    }
  });

  it('a path that reaches the filesystem gets its settings as a copy when .htaccess may adjust them', () => {
    const config = configOf({ htaccess: true });
    const facts = { method: 'GET', target: '/a.txt', peer: '127.0.0.1', forwardedFor: undefined };
    const one = rememberedPreflight(facts, config);
    const two = rememberedPreflight(facts, config);
    if (one.done || two.done) throw new Error('expected the filesystem stage');
    expect(two.effective).not.toBe(one.effective);
    one.effective.symlinks = 'follow';
    const three = rememberedPreflight(facts, config);
    if (three.done) throw new Error('expected the filesystem stage');
    expect(three.effective.symlinks).toBe('inside-root');
  });

  it('holds a bounded number of targets: a scan of random paths still decides each one right', () => {
    const config = configOf();
    for (let i = 0; i < 3000; i++) expect(ask(config, `/.scan-${i}`).decision.reason).toBe('DOTFILE_DENIED');
    expect(ask(config, '/a.txt').decision.reason).toBe('OK');
  });
});
