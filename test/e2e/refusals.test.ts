// Every cause of refusal over a real socket: the status, the reason code in the JSON body, the
// error-log line on stderr, and Apache's order when two causes apply (shared/APACHE.md §1–2).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeTree, SERVER_USER, type Fixture } from '../helpers/tree.js';
import { startServer, writeConfig, type Running } from '../helpers/spawn.js';
import { request, type RawResponse } from '../helpers/http.js';

let fx: Fixture;
let srv: Running;

beforeAll(async () => {
  fx = makeTree({
    site: {
      dir: {
        'hello.txt': 'hello\n',
        '.env': 'SECRET=1\n',
        '.hidden': { dir: { 'file.txt': 'hidden' } },
        'mode000.txt': { content: 'secret', mode: 0o000 },
        noexec: { dir: { 'file.txt': 'x' }, mode: 0o644 },
        nolist: { dir: { 'a.txt': 'a' } },
        private: { dir: { 'a.txt': 'private' } },
        ipdeny: { dir: { 'secret.txt': 'ipdeny' } },
        ipallow: { dir: { 'secret.txt': 'ipallow' } },
        open: { dir: { '.htaccess': 'allowed dotfile', '.well-known': { dir: { x: 'wk' } } } },
        quiet: { dir: { '.secret': 'ignored dotfile' } },
      },
    },
  });
  const config = writeConfig(fx.path('server.config.json'), {
    root: 'site',
    port: 0,
    rules: [
      { path: '/private/**', access: 'deny' },
      { path: '/ipdeny/**', ip: { deny: ['127.0.0.1'] } },
      { path: '/ipallow/**', ip: { allow: ['10.9.9.0/24'] } },
      { path: '/open/**', dotfiles: 'allow' },
      { path: '/quiet/**', dotfiles: 'ignore' },
    ],
    ...(SERVER_USER ? { user: SERVER_USER } : {}),
  });
  srv = await startServer(['--config', config]);
});

afterAll(async () => {
  await srv?.stop();
  fx?.cleanup();
});

const send = (method: string, path: string, headers: Record<string, string> = {}) => request(srv.port, { method, path, headers });
const get = (path: string) => send('GET', path);
/** The answer as an API client sees it: status and reason code. */
async function refusal(method: string, path: string): Promise<{ status: number; reason: string; res: RawResponse }> {
  const res = await send(method, path, { Accept: 'application/json' });
  return { status: res.status, reason: (JSON.parse(res.text) as { reason: string }).reason, res };
}
/** Waits for the error-log line: stderr arrives on its own pipe, a moment after the response. */
async function logged(pattern: RegExp): Promise<void> {
  await vi.waitFor(() => expect(srv.stderr()).toMatch(pattern), { timeout: 5_000, interval: 20 });
}

describe('methods', () => {
  it('DELETE on a file is 405 KC104 with Allow: GET, HEAD, OPTIONS', async () => {
    const { status, reason, res } = await refusal('DELETE', '/hello.txt');
    expect([status, reason]).toEqual([405, 'KC104']);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    const html = await send('DELETE', '/hello.txt');
    expect(html.text).toContain('<p>The requested method DELETE is not allowed for this URL.</p>');
    await logged(/KC104 METHOD_NOT_ALLOWED: method DELETE is not allowed for \/hello\.txt/);
  });

  it.each(['PUT', 'PATCH', 'POST', 'TRACE'])('%s is 405 too', async (method) => {
    expect((await send(method, '/hello.txt')).status).toBe(405);
  });

  // Node's HTTP parser passes only the methods it knows (http.METHODS); PURGE is one of them
  // that keycard, like Apache, does not know.
  it('an unknown method is 501 KC105, with Allow', async () => {
    const { status, reason, res } = await refusal('PURGE', '/hello.txt');
    expect([status, reason]).toEqual([501, 'KC105']);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect((await send('PURGE', '/hello.txt')).text).toContain('<p>PURGE not supported for current URL.<br />\n</p>');
    await logged(/KC105 METHOD_NOT_IMPLEMENTED: Invalid method in request PURGE \/hello\.txt/);
  });

  it('a method the HTTP parser has never heard of (FOO) is 501 KC105 too, as in Apache', async () => {
    const { status, reason, res } = await refusal('FOO', '/hello.txt');
    expect([status, reason]).toEqual([501, 'KC105']);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect((await send('FOO', '/hello.txt')).text).toContain('<p>FOO not supported for current URL.<br />\n</p>');
    await logged(/KC105 METHOD_NOT_IMPLEMENTED: Invalid method in request FOO \/hello\.txt/);
  });

  it('a WebDAV/DeltaV method Apache registers (REPORT) is 405, not 501', async () => {
    expect(await refusal('REPORT', '/hello.txt')).toMatchObject({ status: 405, reason: 'KC104' });
  });

  it('OPTIONS is 200 with Allow and an empty body', async () => {
    const res = await send('OPTIONS', '/hello.txt');
    expect(res.status).toBe(200);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(res.headers['content-length']).toBe('0');
    expect(res.body.length).toBe(0);
  });

  it('OPTIONS * is 200', async () => {
    const res = await send('OPTIONS', '*');
    expect(res.status).toBe(200);
    expect(res.headers.allow).toBe('GET, HEAD, OPTIONS');
  });

  describe("in Apache's order", () => {
    it('DELETE on /.env is 403: access control runs before the method check', async () => {
      expect(await refusal('DELETE', '/.env')).toMatchObject({ status: 403, reason: 'KC301' });
    });

    it('DELETE on a missing file is 405, not 404; PURGE is 501', async () => {
      expect(await refusal('DELETE', '/missing.txt')).toMatchObject({ status: 405, reason: 'KC104' });
      expect(await refusal('PURGE', '/missing.txt')).toMatchObject({ status: 501, reason: 'KC105' });
    });

    it('DELETE on a file the server cannot read is 405, not 403', async () => {
      expect(await refusal('DELETE', '/mode000.txt')).toMatchObject({ status: 405, reason: 'KC104' });
    });

    it.each(['DELETE', 'PURGE', 'FOO'])('%s on a directory without its slash is 301', async (method) => {
      const res = await send(method, '/nolist');
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe('/nolist/');
    });

    it.each(['FOO', 'PURGE'])('%s (unknown) on a path denied by a rule is 403', async (method) => {
      expect(await refusal(method, '/private/a.txt')).toMatchObject({ status: 403, reason: 'KC300' });
    });

    it.each(['FOO', 'PURGE'])('%s (unknown) on a bad escape is 400', async (method) => {
      expect(await refusal(method, '/%zz')).toMatchObject({ status: 400, reason: 'KC100' });
    });

    it('FOO on a missing file is 501, not 404', async () => {
      expect(await refusal('FOO', '/missing.txt')).toMatchObject({ status: 501, reason: 'KC105' });
    });

    it('TRACE under a directory without search permission is 403', async () => {
      expect(await refusal('TRACE', '/noexec/file.txt')).toMatchObject({ status: 403, reason: 'KC401' });
    });
  });
});

describe('the URL', () => {
  it('a bad escape is 400 KC100', async () => {
    expect(await refusal('GET', '/%zz')).toMatchObject({ status: 400, reason: 'KC100' });
    expect((await get('/%')).status).toBe(400);
    await logged(/KC100 BAD_ESCAPE: invalid URI path \(\/%zz\)/);
  });

  it('.. above the root is 400 KC101', async () => {
    expect(await refusal('GET', '/../../../../etc/passwd')).toMatchObject({ status: 400, reason: 'KC101' });
    await logged(/KC101 PATH_ABOVE_ROOT: invalid URI path \(\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd\)/);
  });

  it('an encoded slash is 404 KC102', async () => {
    expect(await refusal('GET', '/sub%2fvisible.txt')).toMatchObject({ status: 404, reason: 'KC102' });
    await logged(/KC102 ENCODED_SLASH: found %2f .* \(\/sub%2fvisible\.txt\)/);
  });

  it('a target that is not a path (GET *) is 400 KC103', async () => {
    expect(await refusal('GET', '*')).toMatchObject({ status: 400, reason: 'KC103' });
  });

  it('an encoded NUL is 404 KC102', async () => {
    expect(await refusal('GET', '/hello.txt%00')).toMatchObject({ status: 404, reason: 'KC102' });
    expect((await get('/hello.txt%00.html')).status).toBe(404);
  });
});

describe('client address', () => {
  it('ip.deny: 403 KC200, naming the rule and the CIDR', async () => {
    expect(await refusal('GET', '/ipdeny/secret.txt')).toMatchObject({ status: 403, reason: 'KC200' });
    await logged(/\[client 127\.0\.0\.1:\d+\] KC200 IP_DENIED: client 127\.0\.0\.1 denied by server configuration: matches rules\[1\]\.ip\.deny 127\.0\.0\.1/);
  });

  it('ip.deny holds for a missing file and for the directory without its slash', async () => {
    expect(await refusal('GET', '/ipdeny/missing.txt')).toMatchObject({ status: 403, reason: 'KC200' });
    expect(await refusal('GET', '/ipdeny')).toMatchObject({ status: 403, reason: 'KC200' });
  });

  it('ip.allow without a match: 403 KC201', async () => {
    expect(await refusal('GET', '/ipallow/secret.txt')).toMatchObject({ status: 403, reason: 'KC201' });
    await logged(/KC201 IP_NOT_ALLOWED: client 127\.0\.0\.1 denied by server configuration: not in rules\[2\]\.ip\.allow/);
  });
});

describe('path rules', () => {
  it('access: deny is 403 KC300', async () => {
    expect(await refusal('GET', '/private/a.txt')).toMatchObject({ status: 403, reason: 'KC300' });
    await logged(/KC300 RULE_DENIED: client denied by server configuration: rules\[0\]\.access is "deny" for "\/private\/\*\*"/);
  });

  it.each(['/private/missing', '/private', '/private/'])('%s is 403 too: not 404, not 301', async (path) => {
    expect(await refusal('GET', path)).toMatchObject({ status: 403, reason: 'KC300' });
  });
});

describe('dotfiles', () => {
  it('deny: 403 KC301', async () => {
    expect(await refusal('GET', '/.env')).toMatchObject({ status: 403, reason: 'KC301' });
    await logged(/KC301 DOTFILE_DENIED: client denied by server configuration: segment "\.env" starts with "\." and dotfiles is "deny"/);
  });

  it.each(['/.nonexistent', '/.hidden', '/.hidden/file.txt', '/%2eenv'])('deny: %s is 403, whether it exists or is a directory without its slash', async (path) => {
    expect(await refusal('GET', path)).toMatchObject({ status: 403, reason: 'KC301' });
  });

  it('ignore: 404 KC302, existing or not', async () => {
    expect(await refusal('GET', '/quiet/.secret')).toMatchObject({ status: 404, reason: 'KC302' });
    expect(await refusal('GET', '/quiet/.missing')).toMatchObject({ status: 404, reason: 'KC302' });
    await logged(/KC302 DOTFILE_IGNORED: segment "\.secret" starts with "\." and rules\[4\]\.dotfiles is "ignore"/);
  });

  it('allow: 200', async () => {
    const res = await get('/open/.htaccess');
    expect(res.status).toBe(200);
    expect(res.text).toBe('allowed dotfile');
    expect((await get('/open/.well-known/x')).text).toBe('wk');
  });
});

describe('the filesystem', () => {
  it('a missing file is 404 KC400', async () => {
    expect(await refusal('GET', '/missing.txt')).toMatchObject({ status: 404, reason: 'KC400' });
    await logged(/KC400 NOT_FOUND: File does not exist: .*\/site\/missing\.txt/);
  });

  it('a directory without index and with listing off is 403 KC501', async () => {
    expect(await refusal('GET', '/nolist/')).toMatchObject({ status: 403, reason: 'KC501' });
    await logged(/KC501 DIRECTORY_NO_INDEX: Cannot serve directory .*\/site\/nolist\/: No matching index \(index\.html\) found, and directory listing is off \(listing\)/);
  });

  it.each(['/hello.txt/', '/hello.txt/extra'])('path info after a file (%s) is 404 KC407', async (path) => {
    expect(await refusal('GET', path)).toMatchObject({ status: 404, reason: 'KC407' });
  });

  it('the path info log line names the file', async () => {
    await get('/hello.txt/extra');
    await logged(/KC407 PATH_INFO: File does not exist: .*\/site\/hello\.txt\/extra/);
  });
});

describe('what a client is told', () => {
  it.each([
    ['/mode000.txt', 'KC402'],
    ['/noexec/file.txt', 'KC401'],
  ])('%s (%s): no filesystem path, errno or mode in any body', async (path, code) => {
    const json = await refusal('GET', path);
    expect(json).toMatchObject({ status: 403, reason: code });
    for (const res of [json.res, await get(path)]) {
      expect(res.text).not.toContain(fx.base);
      expect(res.text).not.toMatch(/EACCES|errno|\(0[0-7]{3}\)|[r-][w-][x-]{1}[r-][w-][x-]|uid|\/tmp\//);
    }
    expect(srv.stderr()).toContain(fx.base); // the operator gets the path, in the log
  });

  it('the built-in 403 page is Apache\'s frame, with the Host header in the address line', async () => {
    const res = await send('GET', '/private/a.txt', { Host: 'example.test:8080' });
    expect(res.headers['content-type']).toBe('text/html; charset=iso-8859-1');
    expect(res.text).toMatch(/^<!DOCTYPE HTML PUBLIC "-\/\/W3C\/\/DTD HTML 4\.01\/\/EN" "http:\/\/www\.w3\.org\/TR\/html4\/strict\.dtd">\n<html><head>\n<title>403 Forbidden<\/title>\n<\/head><body>\n<h1>Forbidden<\/h1>\n<p>You don't have permission to access this resource\.<\/p>\n<hr>\n<address>keycard\/[^ ]+ Server at example\.test Port 8080<\/address>\n<\/body><\/html>\n$/);
    expect(Number(res.headers['content-length'])).toBe(res.body.length);
  });

  it('a Host header with markup is escaped in the address line', async () => {
    const res = await send('GET', '/missing.txt', { Host: '<b>x</b>:99' });
    expect(res.status).toBe(404);
    expect(res.text).toContain('Server at &lt;b&gt;x&lt;/b&gt; Port 99</address>');
    expect(res.text).not.toContain('<b>');
  });

  it('no URL is echoed into a page', async () => {
    const res = await get('/%3Cscript%3Ealert(1)%3C%2Fscript%3E');
    expect(res.text).not.toContain('<script>');
    expect(res.text).not.toContain('alert');
  });
});

describe('errorPages', () => {
  let pages: Fixture;
  let good: Running;
  let broken: Running;

  beforeAll(async () => {
    pages = makeTree({
      site: {
        dir: {
          'hello.txt': 'hello\n',
          'mode000.txt': { content: 'secret', mode: 0o000 },
          errors: {
            dir: {
              '403.html': '<h1>custom forbidden</h1>\n',
              '404.html': '<h1>custom not found</h1>\n',
              'denied.html': { content: '<h1>nobody can read this</h1>\n', mode: 0o000 },
            },
          },
        },
      },
    });
    const user = SERVER_USER ? { user: SERVER_USER } : {};
    good = await startServer(['--config', writeConfig(pages.path('good.json'), { root: 'site', port: 0, errorPages: { '403': '/errors/403.html', '404': '/errors/missing.html' }, ...user })]);
    broken = await startServer(['--config', writeConfig(pages.path('broken.json'), { root: 'site', port: 0, errorPages: { '403': '/errors/denied.html', '404': '/errors/404.html', '405': '/errors/missing.html' }, ...user })]);
  });

  afterAll(async () => {
    await good?.stop();
    await broken?.stop();
    pages?.cleanup();
  });

  it('a custom page is served with the original status', async () => {
    const res = await request(good.port, { path: '/.env' });
    expect(res.status).toBe(403);
    expect(res.text).toBe('<h1>custom forbidden</h1>\n');
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const notFound = await request(broken.port, { path: '/missing.txt' });
    expect([notFound.status, notFound.text]).toEqual([404, '<h1>custom not found</h1>\n']);
  });

  it('HEAD gets the custom page\'s headers and no body', async () => {
    const res = await request(good.port, { method: 'HEAD', path: '/.env' });
    expect(res.status).toBe(403);
    expect(res.headers['content-length']).toBe(String('<h1>custom forbidden</h1>\n'.length));
    expect(res.body.length).toBe(0);
  });

  it('the log still names the original cause', async () => {
    await request(good.port, { path: '/mode000.txt' });
    await vi.waitFor(() => expect(good.stderr()).toMatch(/KC402 FILE_PERMISSION: file permissions deny server access: .*\/mode000\.txt/), { timeout: 5_000, interval: 20 });
  });

  it('an unreadable custom page falls back to the built-in page, "Additionally, a 403 Forbidden"', async () => {
    const res = await request(broken.port, { path: '/mode000.txt' });
    expect(res.status).toBe(403);
    expect(res.text).toContain("<p>You don't have permission to access this resource.</p>\n<p>Additionally, a 403 Forbidden\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n<hr>\n");
    expect(res.text).not.toContain('nobody can read this');
  });

  it('a missing custom 404 page falls back, "Additionally, a 404 Not Found"', async () => {
    const res = await request(good.port, { path: '/missing.txt' });
    expect(res.status).toBe(404);
    expect(res.text).toContain('<p>The requested URL was not found on this server.</p>\n<p>Additionally, a 404 Not Found\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n<hr>\n');
  });

  it('a missing custom page for another status says the page was Not Found (Apache\'s recursive error)', async () => {
    const res = await request(broken.port, { method: 'DELETE', path: '/hello.txt' });
    expect(res.status).toBe(405);
    expect(res.text).toContain('<p>Additionally, a 404 Not Found\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>');
  });

  it('API clients get JSON, never the custom HTML', async () => {
    const res = await request(good.port, { path: '/.env', headers: { Accept: 'application/json' } });
    expect(JSON.parse(res.text)).toMatchObject({ status: 403, reason: 'KC301' });
  });
});
