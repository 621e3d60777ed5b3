// Client addresses: strict parsing, IPv4-mapped unmapping, CIDR matching, and the client
// behind trusted proxies (mod_remoteip's rows in shared/APACHE.md §1).
import { describe, expect, it } from 'vitest';
import { CidrList, clientAddress, parseAddr } from '../../src/policy/ip.js';
import { parseCidr } from '../../src/config/schema.js';

describe('parseAddr', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:db8::1', '2001:db8::1'],
  ])('%s is %s', (text, shown) => {
    expect(parseAddr(text)?.toString()).toBe(shown);
  });

  it.each(['010.0.0.1', '10.1', '0x7f.0.0.1', '2130706433', '127.000.000.001', '256.1.1.1', 'garbage', '', ' 10.1.2.3'])('%j is not an address', (text) => {
    expect(parseAddr(text)).toBeUndefined();
  });
});

describe('parseCidr (config text)', () => {
  it.each([
    ['10.0.0.0/8', 'ipv4', 8],
    ['10.1.2.3', 'ipv4', 32],
    ['2001:db8::/32', 'ipv6', 32],
    ['::1', 'ipv6', 128],
    ['::ffff:10.0.0.0/104', 'ipv4', 8],
  ])('%s is %s/%i', (text, kind, bits) => {
    const r = parseCidr(text);
    expect(r?.[0].kind()).toBe(kind);
    expect(r?.[1]).toBe(bits);
  });

  it.each(['010.0.0.1', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '::/129', '::ffff:10.0.0.0/8', 'localhost', '10.0.0.0/08x'])('%j is refused', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });
});

describe('CidrList', () => {
  const list = new CidrList(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);

  it('names the entry that matched', () => {
    expect(list.find(parseAddr('10.200.3.4')!)).toBe('10.0.0.0/8');
    expect(list.find(parseAddr('2001:db8:1::5')!)).toBe('2001:db8::/32');
    expect(list.find(parseAddr('192.0.2.7')!)).toBe('192.0.2.7');
  });

  it('a v4 rule applies to the v4-mapped v6 spelling of the same client', () => {
    expect(list.find(parseAddr('::ffff:10.1.2.3')!)).toBe('10.0.0.0/8');
  });

  it('never matches across families or outside the prefix', () => {
    expect(list.find(parseAddr('11.0.0.1')!)).toBeUndefined();
    expect(list.find(parseAddr('192.0.2.8')!)).toBeUndefined();
    expect(list.find(parseAddr('2001:db9::1')!)).toBeUndefined();
    expect(list.find(parseAddr('::a00:1')!)).toBeUndefined();
  });

  it('refuses text it cannot parse', () => {
    expect(() => new CidrList(['010.0.0.1'])).toThrow(/010\.0\.0\.1/);
  });
});

describe('clientAddress', () => {
  const trusted = new CidrList(['127.0.0.1']);
  const judged = (xff: string | undefined, peer = '127.0.0.1', list = trusted): string => clientAddress(peer, xff, list).client;

  // mod_remoteip with RemoteIPInternalProxy 127.0.0.1, as recorded.
  it.each([
    ['10.1.2.3', '10.1.2.3'],
    ['10.6.6.6', '10.6.6.6'],
    ['192.0.2.7, 10.1.2.3', '10.1.2.3'],
    ['10.1.2.3, 192.0.2.7', '192.0.2.7'],
    ['10.1.2.3, 127.0.0.1', '10.1.2.3'],
    ['garbage', '127.0.0.1'],
  ])('trusted peer, X-Forwarded-For %j → client %s', (xff, client) => {
    expect(judged(xff)).toBe(client);
  });

  it('garbage stops the walk: it can never make the client look like a better address', () => {
    expect(judged('10.1.2.3, garbage')).toBe('127.0.0.1');
    expect(judged('010.1.2.3')).toBe('127.0.0.1');
  });

  it('hops with ports and brackets are read', () => {
    expect(judged('10.1.2.3:4711')).toBe('10.1.2.3');
    expect(judged('[2001:db8::7]:443')).toBe('2001:db8::7');
  });

  it('every hop trusted: the leftmost is the client', () => {
    expect(judged('127.0.0.1, 127.0.0.1')).toBe('127.0.0.1');
  });

  it('an untrusted peer is judged itself; its header is ignored', () => {
    const r = clientAddress('192.0.2.50', '10.1.2.3', trusted);
    expect(r.client).toBe('192.0.2.50');
    expect(r.via).toMatch(/ignored/);
  });

  it('no trustProxy: the header is never believed', () => {
    expect(judged('10.1.2.3', '127.0.0.1', new CidrList([]))).toBe('127.0.0.1');
  });

  it('a v4-mapped peer is trusted by its v4 entry and reported unmapped', () => {
    const r = clientAddress('::ffff:127.0.0.1', '10.1.2.3', trusted);
    expect(r).toMatchObject({ peer: '127.0.0.1', client: '10.1.2.3' });
  });
});
