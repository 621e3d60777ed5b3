import { describe, expect, it } from 'vitest';
import { evaluateCors, type CorsPolicy } from '../../src/policy/cors.js';
import { compileFilter, evaluateFilter, wildcard } from '../../src/policy/filters.js';
import { parseBans } from '../../src/auth/bans.js';

const policy: CorsPolicy = { origins: ['https://app.example'], methods: ['GET', 'HEAD', 'PUT'], headers: ['X-Token'], credentials: false, maxAge: 600 };

describe('CORS preflight', () => {
  it('allows a listed origin, method and header', () => {
    const r = evaluateCors(policy, 'OPTIONS', 'https://app.example', 'PUT', 'x-token, content-type');
    expect(r.kind).toBe('preflight');
    if (r.kind !== 'preflight') return;
    expect(r.headers['Access-Control-Allow-Origin']).toBe('https://app.example');
    expect(r.headers['Access-Control-Allow-Methods']).toBe('GET, HEAD, PUT');
    expect(r.headers['Access-Control-Max-Age']).toBe('600');
    expect(r.headers.Vary).toContain('Origin');
  });
  it.each([
    ['https://evil.example', 'GET', undefined, 'origin'],
    ['https://app.example', 'DELETE', undefined, 'method'],
    ['https://app.example', 'GET', 'X-Other', 'headers'],
  ])('refuses origin %s method %s headers %s: %s', (origin, method, headers, why) => {
    const r = evaluateCors(policy, 'OPTIONS', origin, method, headers);
    expect(r).toMatchObject({ kind: 'preflight-denied', why });
  });
});

describe('CORS actual requests', () => {
  it('an allowed origin gets Access-Control-Allow-Origin', () => {
    expect(evaluateCors(policy, 'GET', 'https://app.example', undefined, undefined)).toMatchObject({ kind: 'actual', headers: { 'Access-Control-Allow-Origin': 'https://app.example' } });
  });
  it('another origin gets none, so the browser blocks it', () => {
    const r = evaluateCors(policy, 'GET', 'https://evil.example', undefined, undefined);
    expect(r.kind).toBe('actual-not-allowed');
    expect(r.kind === 'actual-not-allowed' ? r.headers['Access-Control-Allow-Origin'] : 'wrong kind').toBeUndefined();
  });
  it('no Origin: nothing to do', () => {
    expect(evaluateCors(policy, 'GET', undefined, undefined, undefined).kind).toBe('none');
  });
  it('"*" without credentials answers "*"; with credentials it echoes the origin', () => {
    const any = { ...policy, origins: ['*'] };
    expect(evaluateCors(any, 'GET', 'https://x.example', undefined, undefined)).toMatchObject({ headers: { 'Access-Control-Allow-Origin': '*' } });
    expect(evaluateCors({ ...policy, credentials: true }, 'GET', 'https://app.example', undefined, undefined)).toMatchObject({ headers: { 'Access-Control-Allow-Origin': 'https://app.example', 'Access-Control-Allow-Credentials': 'true' } });
  });
});

describe('request filters', () => {
  const f = compileFilter({ methods: ['post'], userAgents: ['*sqlmap*', 'curl/*'], headers: { 'X-Debug': '*' }, query: ['*debug=1*'] });
  const req = (over: Partial<{ method: string; headers: Record<string, string>; query: string }>) => ({ method: 'GET', headers: {}, query: '', ...over });
  it.each([
    [req({ method: 'POST' }), 'FILTER_METHOD'],
    [req({ headers: { 'user-agent': 'Mozilla/5.0 SQLMap/1.7' } }), 'FILTER_USER_AGENT'],
    [req({ headers: { 'user-agent': 'curl/8.0' } }), 'FILTER_USER_AGENT'],
    [req({ headers: { 'x-debug': '' } }), 'FILTER_HEADER'],
    [req({ query: 'a=1&debug=1' }), 'FILTER_QUERY'],
  ])('refuses %j with %s', (r, reason) => {
    expect(evaluateFilter(f, r)?.reason).toBe(reason);
  });
  it('lets an ordinary request through', () => {
    expect(evaluateFilter(f, req({ headers: { 'user-agent': 'Mozilla/5.0' }, query: 'page=2' }))).toBeUndefined();
  });
  it('wildcards escape regex syntax and stay linear on many stars', () => {
    expect(wildcard('a.b').test('axb')).toBe(false);
    expect(wildcard('(x)+').test('(x)+')).toBe(true);
    expect(wildcard('*'.repeat(200) + 'z').test('a'.repeat(5000))).toBe(false);
  });
});

describe('bans file', () => {
  it('parses addresses, CIDRs, expiries and comments', () => {
    const bans = parseBans('# suspended\n203.0.113.7\n198.51.100.0/24 2030-01-01T00:00:00Z  # until then\n2001:db8::/32\n');
    expect(bans.map((b) => b.text)).toEqual(['203.0.113.7', '198.51.100.0/24', '2001:db8::/32']);
    expect(bans[1]!.expires).toBe(Date.parse('2030-01-01T00:00:00Z'));
  });
  it('names the line of a bad entry', () => {
    expect(() => parseBans('203.0.113.7\nnot-an-ip\n', 'conf/bans')).toThrow(/conf\/bans:2/);
    expect(() => parseBans('203.0.113.7 tomorrow\n', 'b')).toThrow(/b:1: "tomorrow" is not an ISO 8601 date/);
  });
});
