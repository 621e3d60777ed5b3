// The error pages, byte for byte against Apache 2.4.68 (shared/APACHE.md §3), and the JSON form.
import { describe, expect, it } from 'vitest';
import { addressLine, escapeHtml, prefersJson, renderErrorJson, renderErrorPage } from '../../src/http/pages.js';

const APACHE = 'Apache/2.4.68 (Debian)';
const head = (title: string) =>
  '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n<html><head>\n' + `<title>${title}</title>\n</head><body>\n`;
const addr = (port: number) => `<hr>\n<address>${APACHE} Server at 127.0.0.1 Port ${port}</address>\n</body></html>\n`;
const page = (status: number, method = 'GET', extra: Partial<Parameters<typeof renderErrorPage>[0]> = {}, port = 18105) =>
  renderErrorPage({ status, method, address: addressLine(APACHE, `127.0.0.1:${port}`, '127.0.0.1', 80), ...extra });

describe('Apache\'s canned pages', () => {
  it('403 is §3.1 byte for byte: 317 bytes', () => {
    const expected =
      head('403 Forbidden') + "<h1>Forbidden</h1>\n<p>You don't have permission to access this resource.</p>\n" + addr(18105);
    const body = page(403);
    expect(body).toBe(expected);
    expect(Buffer.byteLength(body, 'latin1')).toBe(317);
  });

  it('404 is §3.2', () => {
    expect(page(404)).toBe(head('404 Not Found') + '<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n' + addr(18105));
  });

  it('400', () => {
    expect(page(400)).toBe(head('400 Bad Request') + '<h1>Bad Request</h1>\n<p>Your browser sent a request that this server could not understand.<br />\n</p>\n' + addr(18105));
  });

  it('405 names the method', () => {
    expect(page(405, 'PUT')).toBe(head('405 Method Not Allowed') + '<h1>Method Not Allowed</h1>\n<p>The requested method PUT is not allowed for this URL.</p>\n' + addr(18105));
  });

  it('501 names the method', () => {
    expect(page(501, 'FOO')).toBe(head('501 Not Implemented') + '<h1>Not Implemented</h1>\n<p>FOO not supported for current URL.<br />\n</p>\n' + addr(18105));
  });

  it('301 links to the location', () => {
    expect(page(301, 'GET', { location: 'http://127.0.0.1:18259/nolist/' }, 18259)).toBe(
      head('301 Moved Permanently') + '<h1>Moved Permanently</h1>\n<p>The document has moved <a href="http://127.0.0.1:18259/nolist/">here</a>.</p>\n' + addr(18259),
    );
  });

  it('a failed ErrorDocument adds the "Additionally" paragraph (§3.3)', () => {
    expect(page(403, 'GET', { errorDocumentFailed: 403 }, 18271)).toBe(
      head('403 Forbidden') +
        "<h1>Forbidden</h1>\n<p>You don't have permission to access this resource.</p>\n" +
        '<p>Additionally, a 403 Forbidden\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n' +
        addr(18271),
    );
    expect(page(404, 'GET', { errorDocumentFailed: 404 }, 18271)).toContain('<p>Additionally, a 404 Not Found\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n<hr>');
  });

  it('ServerSignature Off: no <hr>, no <address>, 239 bytes', () => {
    const body = renderErrorPage({ status: 403, method: 'GET', address: '' });
    expect(body).not.toContain('<hr>');
    expect(Buffer.byteLength(body, 'latin1')).toBe(239);
  });

  it('never echoes the URL', () => {
    expect(page(404)).not.toContain('/secret');
  });

  it('a method with markup is escaped', () => {
    expect(page(405, '<script>')).toContain('The requested method &lt;script&gt; is not allowed');
  });
});

describe('the address line', () => {
  it('takes host and port from the Host header, HTML-escaped', () => {
    expect(addressLine(APACHE, '<b>x</b>:99', '127.0.0.1', 8080)).toBe(`${APACHE} Server at &lt;b&gt;x&lt;/b&gt; Port 99`);
    expect(addressLine(APACHE, 'example.test', '127.0.0.1', 8080)).toBe(`${APACHE} Server at example.test Port 80`);
    expect(addressLine(APACHE, 'example.test:8080', '127.0.0.1', 1)).toBe(`${APACHE} Server at example.test Port 8080`);
    expect(addressLine(APACHE, '[::1]:8443', '127.0.0.1', 1)).toBe(`${APACHE} Server at [::1] Port 8443`);
  });

  it('without a Host header: the listening address', () => {
    expect(addressLine(APACHE, undefined, '127.0.0.1', 18105)).toBe(`${APACHE} Server at 127.0.0.1 Port 18105`);
  });

  it('escapes every character that matters in HTML', () => {
    expect(escapeHtml(`<a href="x" onclick='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});

describe('JSON', () => {
  it('carries the status, the reason code and name, and no path', () => {
    expect(JSON.parse(renderErrorJson(403, 'SEARCH_PERMISSION'))).toEqual({
      error: 'Forbidden',
      status: 403,
      reason: 'KC401',
      name: 'SEARCH_PERMISSION',
      message: 'A directory on the path lacks search (x) permission for the server.',
    });
  });

  it.each([
    ['application/json', true],
    ['application/problem+json', true],
    ['application/json, text/html;q=0.9', true],
    ['text/html, application/json;q=0.9', false],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
    ['*/*', false],
    [undefined, false],
    ['application/json;q=0', false],
  ])('Accept %j prefers JSON: %s', (accept, json) => {
    expect(prefersJson(accept)).toBe(json);
  });
});
