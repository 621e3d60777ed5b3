// Client addresses: parsing, CIDR lists, and who the client is behind trusted proxies.
//
// SECURITY: IPv4-mapped IPv6 (`::ffff:10.1.2.3`, what Node reports on dual-stack sockets) is
// unmapped before any match, so a v4 CIDR can never be dodged by the v6 spelling. Address text
// from headers is parsed strictly: no octal, hex or zero-padded IPv4 forms.
import ipaddr from 'ipaddr.js';
import { parseCidr } from '../config/schema.js';

export type Addr = ipaddr.IPv4 | ipaddr.IPv6;

// Clients repeat: the same few addresses arrive on every request. Parsed addresses are kept
// (never mutated by callers), at most CACHE_MAX of them, the map cleared when it fills.
const CACHE_MAX = 4096;
const parsed = new Map<string, { addr: Addr | undefined; text: string | undefined }>();

function cached(text: string): { addr: Addr | undefined; text: string | undefined } {
  let hit = parsed.get(text);
  if (hit === undefined) {
    const addr = text.length <= 64 ? parseUncached(text) : undefined;
    hit = { addr, text: addr?.toString() };
    if (parsed.size >= CACHE_MAX) parsed.clear();
    parsed.set(text, hit);
  }
  return hit;
}

/** Parses a client address strictly and unmaps IPv4-mapped IPv6. */
export function parseAddr(text: string): Addr | undefined {
  return cached(text).addr;
}

function parseUncached(text: string): Addr | undefined {
  let addr: Addr;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) addr = ipaddr.IPv4.parse(text);
  else if (text.includes(':') && ipaddr.IPv6.isValid(text)) addr = ipaddr.IPv6.parse(text);
  else return undefined;
  if (addr instanceof ipaddr.IPv6 && addr.isIPv4MappedAddress()) return addr.toIPv4Address();
  return addr;
}

export function formatAddr(addr: Addr): string {
  return addr.toString();
}

export class CidrList {
  readonly entries: readonly { readonly text: string; readonly range: [Addr, number] }[];

  constructor(texts: readonly string[]) {
    this.entries = texts.map((text) => {
      const range = parseCidr(text);
      if (!range) throw new TypeError(`not an address or CIDR: ${text}`);
      return { text, range };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** The configured text of the first entry that contains addr, if any. */
  find(addr: Addr): string | undefined {
    for (const e of this.entries) {
      const [net, bits] = e.range;
      if (net.kind() === addr.kind() && (addr as ipaddr.IPv4).match(net as ipaddr.IPv4, bits)) return e.text;
    }
    return undefined;
  }
}

export interface ClientAddress {
  /** The TCP peer, unmapped. */
  peer: string;
  /** The address the ACL judges: the peer, or the hop X-Forwarded-For names when the peer is trusted. */
  client: string;
  /** How `client` was derived, for the trace. */
  via: string;
}

function stripPort(hop: string): string {
  // "[2001:db8::1]:443" and "192.0.2.1:8080" both appear in the wild.
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracket) return bracket[1]!;
  const v4port = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(hop);
  return v4port ? v4port[1]! : hop;
}

/**
 * Walks X-Forwarded-For from the right, as mod_remoteip and nginx's real_ip_recursive do: each
 * hop added by a trusted proxy is skipped; the first untrusted hop is the client. An unparsable
 * hop stops the walk, so garbage can never make the client look like a better address.
 */
export function clientAddress(peerText: string, xff: string | undefined, trusted: CidrList): ClientAddress {
  const p = cached(peerText);
  const peerAddr = p.addr;
  const peer = p.text ?? peerText;
  if (!peerAddr || trusted.size === 0 || xff === undefined || trusted.find(peerAddr) === undefined) {
    const why = trusted.size === 0 ? 'trustProxy is empty' : 'the peer is not in trustProxy';
    const via = xff !== undefined ? `peer ${peer} (X-Forwarded-For ignored: ${why})` : `peer ${peer}`;
    return { peer, client: peer, via };
  }
  const hops = xff.split(',').map((h) => h.trim()).filter((h) => h !== '');
  let current = peerAddr;
  for (let i = hops.length - 1; i >= 0; i--) {
    const addr = parseAddr(stripPort(hops[i]!));
    if (!addr) {
      const client = formatAddr(current);
      return { peer, client, via: `X-Forwarded-For hop ${JSON.stringify(hops[i])} is not an address; using ${client}` };
    }
    current = addr;
    if (trusted.find(addr) === undefined) {
      const client = formatAddr(addr);
      return { peer, client, via: `X-Forwarded-For from trusted peer ${peer}: rightmost untrusted hop ${client}` };
    }
  }
  const client = formatAddr(current);
  return { peer, client, via: `X-Forwarded-For from trusted peer ${peer}: every hop trusted, leftmost ${client}` };
}
