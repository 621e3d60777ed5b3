// The command line and the config file, through the real binary: every mistake is one clear
// message naming the key and a non-zero exit (2 for usage and config); PORT and flags layer
// over the file; the server survives bad requests; the committed JSON Schema is current.
import { readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { runCli, startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request } from '../helpers/http.js';
import { makeCert, makeExpiredCert } from '../helpers/certs.js';
import { configJsonSchema } from '../../dist/config/json-schema.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const user = SERVER_USER ? { user: SERVER_USER } : {};
let fx: Fixture;

beforeAll(() => {
  fx = makeTree({ site: { dir: { 'hello.txt': 'hello\n', '.env': 'SECRET=1\n', list: { dir: { 'a.txt': 'a' } } } } });
});
afterAll(() => fx?.cleanup());

const configFile = (name: string, config: Record<string, unknown>) => writeConfig(fx.path(`${name}.json`), { root: 'site', port: 0, ...user, ...config });
const lines = (text: string) => text.trim().split('\n');

/** A port something else is listening on, held until release(). */
async function occupiedPort(): Promise<{ port: number; release(): Promise<void> }> {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  return { port, release: () => new Promise((r) => blocker.close(() => r())) };
}
async function freePort(): Promise<number> {
  const p = await occupiedPort();
  await p.release();
  return p.port;
}

describe('a bad config is refused with exit 2, naming the key', () => {
  it.each([
    ['an unknown key, with the nearest known one', { dotfile: 'allow' }, /dotfile: unknown key \(did you mean "dotfiles"\?\)/],
    ['a wrong type', { listing: 'yes' }, /: listing: /],
    ['a bad value inside a rule', { rules: [{ path: '/a/**' }, { path: '/b/**', dotfiles: 'maybe' }] }, /: rules\[1\]\.dotfiles: /],
    ['an unknown key inside a rule', { rules: [{ path: '/a/**', acess: 'deny' }] }, /rules\[0\]\.acess: unknown key \(did you mean "access"\?\)/],
    ['a zero-padded address', { ip: { deny: ['010.0.0.1'] } }, /: ip\.deny\[0\]: "010\.0\.0\.1" is not an IP address/],
  ])('%s', (_what, config, message) => {
    const file = configFile('bad', config);
    for (const sub of ['serve', 'check']) {
      const r = runCli([sub, '--config', file]);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(lines(r.stderr)).toHaveLength(1);
      expect(r.stdout).not.toContain('listening on');
    }
  });

  it('invalid JSON: one clear message', () => {
    const file = fx.path('broken.json');
    writeFileSync(file, '{ "root": "site", }');
    const r = runCli(['serve', '--config', file]);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^keycard: config error: .*broken\.json: \(file\): .*broken\.json is not valid JSON: /)]);
  });

  it('a config file that does not exist', () => {
    const r = runCli(['serve', '--config', fx.path('nope.json')]);
    expect(r.status).toBe(2);
    expect(lines(r.stderr)).toEqual([expect.stringContaining('cannot read')]);
  });
});

describe('startup failures are one line and a non-zero exit', () => {
  it('a missing root', () => {
    const r = runCli(['serve', '--config', configFile('noroot', { root: 'no-such-dir' })]);
    expect(r.status).not.toBe(0);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/root: .*no-such-dir does not exist$/)]);
  });

  it('a port already in use', async () => {
    const held = await occupiedPort();
    try {
      const r = runCli(['serve', '--config', configFile('busy', { port: held.port })]);
      expect(r.status).not.toBe(0);
      expect(lines(r.stderr)).toEqual([`keycard: cannot listen on 127.0.0.1:${held.port}: the port is already in use`]);
      expect(r.stdout).toBe('');
    } finally {
      await held.release();
    }
  });

  it('an unknown user', () => {
    const r = runCli(['serve', fx.path('site'), '--port', '0', '--user', 'no-such-user-xyz']);
    expect(r.status).not.toBe(0);
    expect(lines(r.stderr)).toEqual(['keycard: unknown user "no-such-user-xyz"']);
    expect(r.stdout).not.toContain('listening on');
  });

  it('a bad --port is a usage error', () => {
    const r = runCli(['serve', fx.path('site'), '--port', 'eighty']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--port "eighty" is not a port number');
  });

  it('an unknown flag is a usage error', () => {
    const r = runCli(['serve', fx.path('site'), '--dotfile', 'allow']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--dotfile');
  });
});

describe('PORT and --port', () => {
  it('PORT is honoured without --port', async () => {
    const port = await freePort();
    const file = writeConfig(fx.path('noport.json'), { root: 'site', ...user });
    const srv = await startServer(['--config', file], { env: { PORT: String(port) } });
    try {
      expect(srv.port).toBe(port);
      expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
    } finally {
      await srv.stop();
    }
  });

  it('--port wins over PORT', async () => {
    const held = await occupiedPort();
    try {
      const srv = await startServer(['--config', configFile('portflag', {}), '--port', '0'], { env: { PORT: String(held.port) } });
      expect(srv.port).not.toBe(held.port);
      await srv.stop();
    } finally {
      await held.release();
    }
  });

  it('PORT wins over the file', async () => {
    const held = await occupiedPort();
    try {
      const r = runCli(['serve', '--config', configFile('portfile', { port: 0 })], { env: { PORT: String(held.port) } });
      expect(r.stderr).toContain(`:${held.port}: the port is already in use`);
    } finally {
      await held.release();
    }
  });
});

describe('flags override the file', () => {
  let srv: Running;
  beforeAll(async () => {
    const file = configFile('layered', { dotfiles: 'deny', listing: false, ip: { allow: ['10.0.0.0/8'] } });
    srv = await startServer(['--config', file, '--dotfiles', 'allow', '--listing', '--allow', '127.0.0.1']);
  });
  afterAll(() => srv?.stop());

  it('--dotfiles allow serves /.env', async () => {
    const res = await request(srv.port, { path: '/.env' });
    expect([res.status, res.text]).toEqual([200, 'SECRET=1\n']);
  });

  it('--listing lists a directory without an index', async () => {
    const res = await request(srv.port, { path: '/list/' });
    expect(res.status).toBe(200);
    expect(res.text).toContain('a.txt');
  });

  it('--allow adds to the file\'s ip.allow', async () => {
    expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  });

  it('--deny refuses, and wins over the file\'s allow', async () => {
    const denied = await startServer(['--config', configFile('denied', { ip: { allow: ['127.0.0.0/8'] } }), '--deny', '127.0.0.1']);
    try {
      const res = await request(denied.port, { path: '/hello.txt', headers: { Accept: 'application/json' } });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text)).toMatchObject({ reason: 'KC200' });
    } finally {
      await denied.stop();
    }
  });

  it('--no-listing turns a file\'s listing off', async () => {
    const off = await startServer(['--config', configFile('listed', { listing: true }), '--no-listing']);
    try {
      expect((await request(off.port, { path: '/list/' })).status).toBe(403);
    } finally {
      await off.stop();
    }
  });
});

describe('keycard check', () => {
  it('prints the effective settings and exits 0', () => {
    const file = configFile('good', { dotfiles: 'ignore', rules: [{ path: '/private/**', access: 'deny' }] });
    const r = runCli(['check', '--config', file]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`config: ${file}`);
    expect(r.stdout).toMatch(/^root: .*\/site$/m);
    expect(r.stdout).toContain('"dotfiles": "ignore"');
    expect(r.stdout).toContain('"symlinks": "inside-root"'); // a default, filled in
    expect(r.stdout).toContain('"/private/**"');
  });

  it('exits 2 on a bad config', () => {
    expect(runCli(['check', '--config', configFile('bad2', { hideForbidden: 'yes' })]).status).toBe(2);
  });

  it('opens the TLS files: a key that does not match the certificate is named, exit 2', () => {
    const a = makeCert('a.test');
    const b = makeCert('b.test');
    const good = runCli(['check', '--config', configFile('tls-good', { tls: { cert: a.cert, key: a.key } })]);
    expect(good.status).toBe(0);
    const bad = runCli(['check', '--config', configFile('tls-bad', { tls: { cert: a.cert, key: b.key } })]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`tls.key: ${b.key} does not match the certificate ${a.cert}`);
    const missing = runCli(['check', '--config', configFile('tls-missing', { tls: { cert: a.cert, key: path.join(a.dir, 'nope.key') } })]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/tls\.key/);
  });

  it('warns of an expired certificate and still exits 0', () => {
    const old = makeExpiredCert();
    const r = runCli(['check', '--config', configFile('tls-expired', { tls: { cert: old.cert, key: old.key } })]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: the certificate .* expired/);
  });
});

describe('the server keeps serving', () => {
  let srv: Running;
  beforeAll(async () => {
    srv = await startServer(['--config', configFile('robust', {})]);
  });
  afterAll(() => srv?.stop());

  function raw(bytes: string | Buffer): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port: srv.port, host: '127.0.0.1' }, () => sock.write(bytes));
      let out = '';
      sock.setEncoding('latin1').on('data', (c: string) => (out += c));
      sock.on('error', reject);
      sock.on('close', () => resolve(out));
    });
  }

  it('garbage bytes get a 400, and the next request is served', async () => {
    const answer = await raw(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x01, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]));
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect((await raw('\x00\x01\x02 not http at all\r\n\r\n'))).toMatch(/^HTTP\/1\.1 400 /);
    const res = await request(srv.port, { path: '/hello.txt' });
    expect([res.status, res.text]).toEqual([200, 'hello\n']);
  });

  it('oversized headers get a 431, and the next request is served', async () => {
    const answer = await raw(`GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(32 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  });

  it('an overlong URL gets a 414, and the next request is served', async () => {
    const res = await request(srv.port, { path: '/' + 'a'.repeat(9000) });
    expect(res.status).toBe(414);
    expect((await request(srv.port, { path: '/hello.txt' })).status).toBe(200);
  });
});

it('server.config.schema.json is what scripts/write-schema.js writes', () => {
  const committed = readFileSync(path.join(REPO, 'server.config.schema.json'), 'utf8');
  expect(committed).toBe(JSON.stringify(configJsonSchema(), null, 2) + '\n');
});
