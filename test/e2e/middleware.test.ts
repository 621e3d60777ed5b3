// The programmatic API, imported the way a user imports it (`from 'keycard'`, the built
// package): createHandler mounted in node:http and in Express 5, and createServer.
//
// These servers run inside the test process, so refusals here come from the config (rules,
// dotfiles), never from file modes: as root the test process would read anything.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, createServer, compileConfig, decide, kernelProbe, KeycardConfigError, REASONS, type ConfigInput, type Handler, type KeycardServer } from 'keycard';
import { makeTree, type Fixture } from '../helpers/tree.js';
import { request } from '../helpers/http.js';

let fx: Fixture;
let config: ConfigInput;
const errors: string[] = [];

beforeAll(() => {
  fx = makeTree({
    site: {
      dir: {
        'hello.txt': 'hello from keycard\n',
        'index.html': '<p>home</p>\n',
        'app.js': 'console.log("x");\n'.repeat(200),
        private: { dir: { 'secret.txt': 'no' } },
        hidden: { dir: { 'x.txt': 'no' } },
        docs: { dir: { 'a.txt': 'a' } },
      },
    },
  });
  config = {
    root: fx.path('site'),
    rules: [
      { path: '/private/**', access: 'deny' },
      { path: '/hidden/**', access: 'deny', hide: true },
    ],
  };
});

afterAll(() => fx?.cleanup());

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}
function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('Express 5', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    const app = express();
    const keycard: Handler = createHandler(config, { accessLog: false, errorLog: (line) => errors.push(line) });
    app.get('/api/status', (_req, res) => {
      res.json({ ok: true });
    });
    app.use(keycard);
    app.use('/static', createHandler(config, { accessLog: false, errorLog: false }));
    app.post('/hello.txt', (_req, res) => {
      res.status(201).send('posted');
    });
    app.use((req, res) => {
      res.status(404).type('text/plain').send(`next middleware: ${req.method} ${req.url}`);
    });
    server = http.createServer(app);
    port = await listen(server);
  });
  afterAll(() => close(server));

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => request(port, { method, path, headers });

  it('serves a file, with keycard headers', async () => {
    const res = await get('/hello.txt');
    expect(res.status).toBe(200);
    expect(res.text).toBe('hello from keycard\n');
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers.etag).toMatch(/^"/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBe('Express');
  });

  it('serves the index, ranges, 304 and compression as the server does', async () => {
    expect((await get('/')).text).toBe('<p>home</p>\n');
    expect((await get('/hello.txt', { Range: 'bytes=0-4' })).text).toBe('hello');
    const { etag } = (await get('/hello.txt')).headers;
    expect((await get('/hello.txt', { 'If-None-Match': etag! })).status).toBe(304);
    // A streamed body needs a client that keeps its side open: the raw helper half-closes,
    // and a plain node:http server (unlike keycard's own) then ends the connection early.
    const gz = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      http.get({ port, host: '127.0.0.1', path: '/app.js', headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    expect(gz.encoding).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe('console.log("x");\n'.repeat(200));
  });

  it('answers a refusal itself: 403 from keycard, with its reason in the error log', async () => {
    const res = await get('/private/secret.txt', { Accept: 'application/json' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ error: 'Forbidden', reason: REASONS.RULE_DENIED.code });
    expect(res.headers.server).toMatch(/^keycard\//);
    expect(errors.join('')).toMatch(/RULE_DENIED: .*rules\[0\]\.access/);
  });

  it('a 404 falls through to the next middleware', async () => {
    const res = await get('/nowhere.txt');
    expect(res.status).toBe(404);
    expect(res.text).toBe('next middleware: GET /nowhere.txt');
  });

  it('a hidden refusal falls through like any 404, and is still logged', async () => {
    const res = await get('/hidden/x.txt');
    expect(res.text).toBe('next middleware: GET /hidden/x.txt');
    expect(errors.join('')).toMatch(/RULE_DENIED: .*\(answered 404: rules\[1\]\.hide\)/);
  });

  it('routes before it keep working', async () => {
    expect(JSON.parse((await get('/api/status')).text)).toEqual({ ok: true });
  });

  it('other methods are left to the routes after it', async () => {
    const res = await get('/hello.txt', { 'Content-Length': '0' }, 'POST');
    expect(res.status).toBe(201);
    expect(res.text).toBe('posted');
    expect((await get('/hello.txt', { 'Content-Length': '0' }, 'DELETE')).text).toBe('next middleware: DELETE /hello.txt');
  });

  it('mounted under a path, it serves relative to it', async () => {
    expect((await get('/static/hello.txt')).text).toBe('hello from keycard\n');
    expect((await get('/static/private/secret.txt')).status).toBe(403);
    expect((await get('/static/missing')).text).toBe('next middleware: GET /static/missing');
  });
});

describe('plain node:http', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer(createHandler(config, { accessLog: false, errorLog: false }));
    port = await listen(server);
  });
  afterAll(() => close(server));

  it('without next, keycard answers everything: files, 403, 404, 405', async () => {
    expect((await request(port, { path: '/hello.txt' })).text).toBe('hello from keycard\n');
    expect((await request(port, { path: '/private/secret.txt' })).status).toBe(403);
    const missing = await request(port, { path: '/nowhere' });
    expect(missing.status).toBe(404);
    expect(missing.text).toContain('<h1>Not Found</h1>');
    const post = await request(port, { method: 'POST', path: '/hello.txt', headers: { 'Content-Length': '0' } });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD, OPTIONS');
  });
});

describe('createServer', () => {
  let ks: KeycardServer;
  afterAll(() => ks?.close());

  it('listens on a free port and serves with the same config object', async () => {
    ks = createServer({ ...config, port: 0, host: '127.0.0.1', accessLog: false }, { errorLog: false });
    const bound = await ks.listen();
    expect(bound.url).toBe(`http://127.0.0.1:${bound.port}`);
    expect((await request(bound.port, { path: '/hello.txt' })).text).toBe('hello from keycard\n');
    expect((await request(bound.port, { path: '/docs' })).headers.location).toBe('/docs/');
  });
});

describe('the config object', () => {
  it('is validated by the same schema: errors name the key', () => {
    expect(() => createHandler({ root: fx.path('site'), dotfile: 'allow' } as unknown as ConfigInput)).toThrow(KeycardConfigError);
    try {
      createHandler({ root: fx.path('site'), port: -1, rules: [{ path: '/x', access: 'maybe' }] } as unknown as ConfigInput);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(KeycardConfigError);
      expect((err as KeycardConfigError).errors.map((e) => e.path).sort()).toEqual(['port', 'rules[0].access']);
    }
  });

  it('a missing root is an error, not a server that 404s everything', () => {
    expect(() => createHandler({ root: fx.path('nope') })).toThrow(/root: .*does not exist/);
  });

  it('a relative root is resolved against options.cwd', async () => {
    const handler = createHandler({ root: 'site' }, { cwd: fx.base, accessLog: false, errorLog: false });
    expect(handler.config.root).toBe(compileConfig({ root: fx.path('site') }).root);
  });

  it('decide is exported for programs: the same Decision the server acts on', () => {
    const compiled = compileConfig(config);
    const d = decide({ method: 'GET', target: '/private/secret.txt', peer: '127.0.0.1', forwardedFor: undefined }, compiled, kernelProbe);
    expect(d.decision).toMatchObject({ verdict: 'deny', status: 403, reason: 'RULE_DENIED' });
    if (d.file) kernelProbe.close(d.file.opened.fd);
  });
});
