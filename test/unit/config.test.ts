// loadConfig: file, then PORT, then flags; every problem named by its key; the result frozen.
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatConfigErrors, loadConfig, type Config, type LoadOptions } from '../../src/config/load.js';
import { effectiveFor } from '../../src/policy/effective.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keycard-config-'));
  fs.mkdirSync(path.join(dir, 'site'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const load = (raw: Record<string, unknown>, more: Omit<LoadOptions, 'raw'> = {}) => loadConfig({ raw: { root: 'site', ...raw }, cwd: dir, env: {}, ...more });
const errorsOf = (raw: Record<string, unknown>, more: Omit<LoadOptions, 'raw'> = {}) => {
  const r = load(raw, more);
  if (r.ok) throw new Error('expected the config to be refused');
  return r.errors;
};

describe('defaults', () => {
  it('are the contract\'s', () => {
    const r = load({});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.root).toBe(fs.realpathSync(path.join(dir, 'site')));
    expect(r.config.data).toMatchObject({ host: '127.0.0.1', port: 8080, index: ['index.html'], listing: false, dotfiles: 'deny', symlinks: 'inside-root', hideForbidden: false, trustProxy: [], rules: [] });
  });

  it('the result is frozen all the way down', () => {
    const r = load({ rules: [{ path: '/a/**', headers: { 'X-A': '1' } }] });
    if (!r.ok) throw new Error('refused');
    expect(Object.isFrozen(r.config)).toBe(true);
    expect(Object.isFrozen(r.config.data.rules[0]!.headers)).toBe(true);
    expect(() => ((r.config.data as { listing: boolean }).listing = true)).toThrow(TypeError);
  });
});

describe('errors name the key', () => {
  it('an unknown key, with the nearest known one', () => {
    expect(errorsOf({ dotfile: 'allow' })).toEqual([{ path: 'dotfile', message: expect.stringContaining('did you mean "dotfiles"') }]);
    expect(errorsOf({ rules: [{ path: '/a', hidden: true }] })[0]).toMatchObject({ path: 'rules[0].hidden', message: expect.stringContaining('"hide"') });
    expect(errorsOf({ ip: { alow: ['10.0.0.0/8'] } })[0]).toMatchObject({ path: 'ip.alow', message: expect.stringContaining('"allow"') });
  });

  it('a key with no near neighbour lists the known keys', () => {
    expect(errorsOf({ zzzzzzzzzz: 1 })[0]!.message).toMatch(/known keys here: root, host, port/);
  });

  it('a wrong type', () => {
    expect(errorsOf({ listing: 'yes' })[0]).toMatchObject({ path: 'listing' });
  });

  it('a bad enum inside a rule', () => {
    expect(errorsOf({ rules: [{ path: '/a' }, { path: '/b', dotfiles: 'maybe' }] })[0]).toMatchObject({ path: 'rules[1].dotfiles' });
  });

  it('zero-padded or octal-looking IPv4, anywhere an address is accepted', () => {
    expect(errorsOf({ ip: { allow: ['010.0.0.1'] } })[0]).toMatchObject({ path: 'ip.allow[0]', message: expect.stringContaining('"010.0.0.1"') });
    expect(errorsOf({ trustProxy: ['127.0.0.1', '0127.0.0.1'] })[0]).toMatchObject({ path: 'trustProxy[1]' });
    expect(errorsOf({ rules: [{ path: '/a', ip: { deny: ['10.0.0.0/40'] } }] })[0]).toMatchObject({ path: 'rules[0].ip.deny[0]' });
  });

  it('header values that could split a response', () => {
    expect(errorsOf({ headers: { 'X-A': 'a\r\nSet-Cookie: x=1' } })[0]).toMatchObject({ path: 'headers.X-A' });
    expect(errorsOf({ rules: [{ path: '/a', cacheControl: 'no-cache\n' }] })[0]).toMatchObject({ path: 'rules[0].cacheControl' });
  });

  it('every problem at once, not just the first', () => {
    expect(errorsOf({ listing: 1, dotfiles: 'x', port: 70000 }).map((e) => e.path).sort()).toEqual(['dotfiles', 'listing', 'port']);
  });

  it('a missing root, once', () => {
    expect(errorsOf({ root: 'nope' })).toEqual([{ path: 'root', message: `${path.join(dir, 'nope')} does not exist` }]);
  });

  it('a root that is a file', () => {
    fs.writeFileSync(path.join(dir, 'afile'), 'x');
    expect(errorsOf({ root: 'afile' })[0]).toMatchObject({ path: 'root', message: expect.stringContaining('not a directory') });
  });

  it('formatting gives one line per problem, with the file', () => {
    const text = formatConfigErrors([{ path: 'listing', message: 'bad' }, { path: 'port', message: 'worse' }], '/etc/k.json');
    expect(text).toBe('keycard: config error: /etc/k.json: listing: bad\nkeycard: config error: /etc/k.json: port: worse');
  });
});

describe('files', () => {
  it('invalid JSON is one clear message', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, '{ "listing": true, }');
    const r = loadConfig({ file, env: {} });
    expect(r).toMatchObject({ ok: false, errors: [{ path: '(file)', message: expect.stringContaining('is not valid JSON') }] });
  });

  it('a JSON array is not a config', () => {
    const file = path.join(dir, 'array.json');
    fs.writeFileSync(file, '[]');
    expect(loadConfig({ file, env: {} })).toMatchObject({ ok: false, errors: [{ message: expect.stringContaining('must contain a JSON object') }] });
  });

  it('root is relative to the config file, not the working directory', () => {
    const file = path.join(dir, 'rel.json');
    fs.writeFileSync(file, JSON.stringify({ root: 'site' }));
    const r = loadConfig({ file, cwd: '/', env: {} });
    expect(r.ok && r.config.root).toBe(fs.realpathSync(path.join(dir, 'site')));
  });
});

describe('PORT and flags', () => {
  it('PORT is used when --port is not given', () => {
    expect(load({ port: 1234 }, { env: { PORT: '4321' } })).toMatchObject({ ok: true, config: { data: { port: 4321 } } });
  });

  it('--port wins over PORT, even a bad PORT', () => {
    expect(load({}, { env: { PORT: 'eighty' }, overrides: { port: 0 } })).toMatchObject({ ok: true, config: { data: { port: 0 } } });
  });

  it('a bad PORT is named', () => {
    expect(errorsOf({}, { env: { PORT: 'eighty' } })[0]).toMatchObject({ path: 'PORT' });
  });

  it('flags override the file; --allow and --deny add to its lists', () => {
    const r = load({ dotfiles: 'deny', listing: false, ip: { allow: ['10.0.0.0/8'] } }, { overrides: { dotfiles: 'allow', listing: true, allow: ['127.0.0.1'], deny: ['10.6.6.6'] } });
    expect(r).toMatchObject({ ok: true, config: { data: { dotfiles: 'allow', listing: true, ip: { allow: ['10.0.0.0/8', '127.0.0.1'], deny: ['10.6.6.6'] } } } });
  });

  it('a bad flag value is named like the key it sets', () => {
    expect(errorsOf({}, { overrides: { dotfiles: 'maybe' } })[0]).toMatchObject({ path: 'dotfiles' });
    expect(errorsOf({}, { overrides: { deny: ['010.0.0.1'] } })[0]).toMatchObject({ path: 'ip.deny[0]' });
  });
});

describe('rules', () => {
  let config: Config;
  beforeAll(() => {
    const r = load({ rules: [{ path: '/private/**', access: 'deny' }, { path: '/private/open/**', access: 'allow', listing: true }, { path: '**/*.log', hide: true }] });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    config = r.config;
  });

  it('a /dir/** glob covers the directory itself, with and without its slash', () => {
    for (const p of ['/private', '/private/', '/private/a', '/private/a/b/c']) expect(effectiveFor(config, p).access).toBe('deny');
    expect(effectiveFor(config, '/privateer').access).toBe('allow');
  });

  it('later rules win, and each setting remembers its key', () => {
    const eff = effectiveFor(config, '/private/open/x');
    expect(eff).toMatchObject({ access: 'allow', listing: true, source: { access: 'rules[1].access', listing: 'rules[1].listing' } });
    expect(effectiveFor(config, '/a/b/debug.log')).toMatchObject({ hide: true, source: { hide: 'rules[2].hide' } });
  });

  it('globs match dot names too', () => {
    expect(effectiveFor(config, '/private/.env').access).toBe('deny');
  });

  it('asked again for a path, gives the same settings in a copy of its own (the .htaccess stage adjusts its copy)', () => {
    const first = effectiveFor(config, '/private/open/y');
    first.listing = false;
    first.source.listing = '/private/open/.htaccess (Options)';
    const again = effectiveFor(config, '/private/open/y');
    expect(again).not.toBe(first);
    expect(again).toMatchObject({ access: 'allow', listing: true, source: { access: 'rules[1].access', listing: 'rules[1].listing' } });
  });
});
