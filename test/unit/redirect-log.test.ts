// The pure parts of issue 10: the HTTPS redirect's host and path (never an open redirect), and
// the access log's pipe-atomic chunks for cluster workers; and the error line written as bytes.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Decision } from '../../src/decision.js';
import { redirectHost, redirectPath } from '../../src/server.js';
import { BufferedWriter, PIPE_BUF, errorLine } from '../../src/http/log.js';

describe('redirectHost', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM:8080', 'example.com'],
    ['10.0.0.1:80', '10.0.0.1'],
    ['[::1]:8080', '[::1]'],
    ['[2001:DB8::1]', '[2001:db8::1]'],
    ['localhost.', 'localhost.'],
  ])('%s → %s', (host, want) => expect(redirectHost(host, 'fallback')).toBe(want));

  it.each([undefined, '', 'evil.com/x', 'a@b.com', 'a b', 'x\\y', '-bad.com', 'bad-.com', '[nope]', '[::1', 'a..b', 'http://evil', 'a'.repeat(64) + '.com', 'x:99999999'])(
    'a bad Host (%j) falls back to the configured host',
    (host) => expect(redirectHost(host, '127.0.0.1')).toBe('127.0.0.1'),
  );

  it('an IPv6 configured host is bracketed', () => expect(redirectHost(undefined, '::1')).toBe('[::1]'));
});

describe('redirectPath', () => {
  it('keeps an origin-form target, percent-encodes what is not printable ASCII', () => {
    expect(redirectPath('/a/b?c=d&e')).toBe('/a/b?c=d&e');
    expect(redirectPath('/\u00e9 x')).toBe('/%E9%20x');
    expect(redirectPath('//evil.com/x')).toBe('//evil.com/x');
  });
  it.each([undefined, '*', 'http://evil.com/', 'evil.com'])('anything else (%j) is /', (t) => expect(redirectPath(t)).toBe('/'));
});

describe('BufferedWriter in a cluster worker (pipe-atomic access log writes)', () => {
  const capture = (): { writes: Buffer[]; w: BufferedWriter } => {
    const writes: Buffer[] = [];
    return { writes, w: new BufferedWriter(-1, 64 * 1024, true, (b) => writes.push(Buffer.from(b))) };
  };

  it('whole lines, each write at most PIPE_BUF bytes', () => {
    const { writes, w } = capture();
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(i % 300)} é\n`);
    for (const l of lines) w.write(l);
    w.flush();
    expect(writes.length).toBeGreaterThan(1);
    for (const c of writes) {
      expect(c.length).toBeLessThanOrEqual(PIPE_BUF);
      expect(c[c.length - 1]).toBe(0x0a);
    }
    expect(Buffer.concat(writes).toString()).toBe(lines.join(''));
  });

  it('a line longer than PIPE_BUF is a write of its own', () => {
    const { writes, w } = capture();
    const long = 'y'.repeat(5000) + '\n';
    for (const l of ['a\n', long, 'b\n']) w.write(l);
    w.flush();
    expect(writes.map((c) => c.length)).toEqual([2, long.length, 2]);
  });

  it('nothing is written before a flush (the timer, a full buffer, or exit)', () => {
    const { writes, w } = capture();
    w.write('one\n');
    expect(writes).toEqual([]);
    w.flush();
    expect(writes.map(String)).toEqual(['one\n']);
  });
});

describe('errorLine: the tail of a kept decision comes from memory', () => {
  const decisionArb = fc.record({
    status: fc.constantFrom(403, 404, 500),
    message: fc.string({ unit: fc.constantFrom('a', 'é', '\u4e2d', '\u{1F600}', '\x00', '\n', '\x7f', '"', ' ', '/'), maxLength: 80 }),
    masked: fc.boolean(),
  });
  const make = (o: { status: number; message: string; masked: boolean }): Decision => {
    const d: Decision = { verdict: 'deny', status: o.status, reason: 'DOTFILE_DENIED', code: 'KC301', message: o.message, urlPath: '/.x', evidence: {} };
    if (o.masked) d.masked = { by: 'rules[0].hide', status: 404 };
    return d;
  };

  it('a frozen (kept) decision gives the same line as a fresh one, every time, for any message, client, port and time', () => {
    fc.assert(
      fc.property(decisionArb, fc.constantFrom('127.0.0.1', '::1', '-'), fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }), fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), (o, client, port, time) => {
        const fresh = errorLine(make(o), client, port, time);
        const kept = Object.freeze(make(o));
        expect(errorLine(kept, client, port, time)).toBe(fresh);
        expect(errorLine(kept, client, port, time + 1)).toBe(errorLine(make(o), client, port, time + 1));
        expect(fresh).toMatch(/^\[\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4}\] \[keycard:(error|info)\] \[pid \d+\] \[client [^\]]*\] KC301 DOTFILE_DENIED: [^\x00-\x1f\x7f]*\n$/u);
      }),
    );
  });
});
