// The shape of server.config.json, as a zod schema: the single source for validation, for the
// TypeScript types and for the JSON Schema editors read (server.config.schema.json is generated
// from this file). Defaults here are the contract's defaults.
import * as z from 'zod';
import ipaddr from 'ipaddr.js';

export const DOTFILES = ['allow', 'deny', 'ignore'] as const;
export const SYMLINKS = ['follow', 'owner-match', 'inside-root', 'deny'] as const;
export type DotfilesPolicy = (typeof DOTFILES)[number];
export type SymlinkPolicy = (typeof SYMLINKS)[number];

/** Strict address text: no octal-looking or zero-padded IPv4 ("010.0.0.1"), optional /prefix. */
export function parseCidr(text: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(addrText)) addr = ipaddr.IPv4.parse(addrText);
  else if (addrText.includes(':') && ipaddr.IPv6.isValid(addrText)) addr = ipaddr.IPv6.parse(addrText);
  else return undefined;
  // `::ffff:a.b.c.d` in a config means the IPv4 address, as it does for clients.
  let bits = addr.kind() === 'ipv4' ? 32 : 128;
  if (addr instanceof ipaddr.IPv6 && addr.isIPv4MappedAddress()) {
    addr = addr.toIPv4Address();
    bits = 32;
    if (prefixText !== undefined) {
      const p = Number(prefixText);
      if (!/^\d{1,3}$/.test(prefixText) || p < 96 || p > 128) return undefined;
      return [addr, p - 96];
    }
  }
  if (prefixText === undefined) return [addr, bits];
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  return [addr, prefix];
}

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, {
  error: (issue) => `${JSON.stringify(issue.input)} is not an IP address or CIDR (IPv4 in plain dotted decimal, or IPv6)`,
});

const ipLists = z.strictObject({
  allow: z.array(cidr).optional().describe('Addresses and CIDRs; when non-empty the client must match one.'),
  deny: z.array(cidr).optional().describe('Addresses and CIDRs that are always refused; deny wins over allow.'),
});

// CR, LF and NUL in a configured header would let the config split a response.
const headerValue = z.string().refine((s) => !/[\r\n\0]/.test(s), { error: 'header values cannot contain CR, LF or NUL' });
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: 'not a valid header name' });

const requireLine = z.string().regex(/^(valid-user|user( [^\s]+)+|group( [^\s]+)+)$/, { error: 'expected "valid-user", "user NAME…" or "group NAME…"' });

export const authSchema = z.strictObject({
  realm: z.string().min(1).refine((s) => !/["\\\r\n]/.test(s), { error: 'a realm cannot contain quotes, backslashes or line breaks' }),
  users: z.string().min(1).describe('An Apache htpasswd file (bcrypt, $apr1$ or {SHA}), relative to the config file.'),
  groups: z.string().min(1).optional().describe('An Apache htgroup file, relative to the config file.'),
  require: z.array(requireLine).min(1).default(['valid-user']).describe('Any line admits: valid-user, user NAME…, group NAME….'),
});

export const corsSchema = z
  .strictObject({
    origins: z.array(z.string().regex(/^(\*|https?:\/\/[^/\s]+)$/, { error: 'an origin is "*" or scheme://host[:port]' })).min(1),
    methods: z.array(z.string().regex(/^[A-Za-z]+$/)).default(['GET', 'HEAD']),
    headers: z.array(headerName).default([]),
    credentials: z.boolean().default(false),
    maxAge: z.int().min(0).max(86400).optional(),
  })
  .refine((c) => !(c.credentials && c.origins.includes('*')), { error: 'credentials: true cannot be combined with origins "*" (browsers refuse it)', path: ['credentials'] });

export const filterSchema = z.strictObject({
  methods: z.array(z.string().regex(/^[A-Za-z-]+$/)).optional(),
  userAgents: z.array(z.string().max(512)).optional().describe('Wildcards (* and ?), case-insensitive.'),
  headers: z.record(headerName, z.string().max(512)).optional().describe('Header name → wildcard for its value ("*": present at all).'),
  query: z.array(z.string().max(512)).optional().describe('Wildcards matched against the raw query string.'),
});

export const ruleSchema = z.strictObject({
  path: z.string().min(1).max(1024).describe('A glob (minimatch, dot files included) matched against the decoded, canonical URL path.'),
  listing: z.boolean().optional(),
  dotfiles: z.enum(DOTFILES).optional(),
  symlinks: z.enum(SYMLINKS).optional(),
  ip: ipLists.optional(),
  access: z.enum(['allow', 'deny']).optional().describe('"deny" refuses every request under the path with 403.'),
  hide: z.boolean().optional().describe('Answer 404 wherever the answer would be 403.'),
  cacheControl: headerValue.optional().describe('Cache-Control for successful responses under the path.'),
  headers: z.record(headerName, headerValue).optional().describe('Extra response headers for successful responses under the path.'),
  auth: authSchema.optional(),
  cors: corsSchema.optional(),
  filter: filterSchema.optional(),
});

const statusKey = z.enum(['400', '401', '403', '404', '405', '429', '500', '501', '503']);

export const configSchema = z.strictObject({
  $schema: z.string().optional(),
  root: z.string().min(1).default('public').describe('Document root, relative to the config file.'),
  host: z.string().min(1).default('127.0.0.1'),
  port: z.int().min(0).max(65535).default(8080).describe('0 picks a free port.'),
  index: z.array(z.string().min(1).refine((s) => !s.includes('/') && s !== '.' && s !== '..', { error: 'an index name is a plain file name' })).default(['index.html']),
  listing: z.boolean().default(false),
  listingDenied: z.enum(['mark', 'omit']).default('mark').describe('Entries the server cannot read: listed and marked, or left out.'),
  dotfiles: z.enum(DOTFILES).default('deny'),
  symlinks: z.enum(SYMLINKS).default('inside-root'),
  htaccess: z.boolean().default(false).describe('Read Apache .htaccess files (the access and listing subset) along each path.'),
  ip: z.strictObject({ allow: z.array(cidr).default([]), deny: z.array(cidr).default([]) }).default({ allow: [], deny: [] }),
  rules: z.array(ruleSchema).default([]),
  hideForbidden: z.boolean().default(false),
  errorPages: z.partialRecord(statusKey, z.string().min(1)).default({}),
  trustProxy: z.array(cidr).default([]),
  bans: z.string().min(1).optional().describe('A file of suspended addresses/CIDRs, optional ISO 8601 expiry per line; re-read when it changes.'),
  user: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
  accessLog: z.boolean().default(true).describe('Combined Log Format lines on stdout.'),
  defaultType: z.string().default('application/octet-stream').describe('Content-Type for files whose extension is unknown.'),
  cacheControl: headerValue.optional(),
  headers: z.record(headerName, headerValue).default({}),
  compress: z.boolean().default(true).describe('Compress compressible types on the fly (brotli, gzip) when the client accepts it.'),
  precompressed: z.boolean().default(true).describe('Serve file.br / file.gz sidecars when present, readable and fresh.'),
  serverSignature: z.boolean().default(true).describe('The <address> line on error pages and listings, as Apache\'s ServerSignature On.'),
  explainErrors: z.boolean().default(false).describe('Add the reason code and hint to error pages and a Keycard-Reason header. Leaks information: for teaching and previews.'),
  // Server limits: Apache's defaults where it has one (LimitRequestLine 8190, KeepAliveTimeout 5s,
  // Timeout 60s), node's otherwise.
  limits: z.strictObject({
    headersTimeout: z.int().min(100).max(3_600_000).default(20_000).describe('Milliseconds a client has to send the whole request head (slowloris): then 408 and the connection is closed.'),
    requestTimeout: z.int().min(0).max(3_600_000).default(30_000).describe('Milliseconds a client has to send the whole request, body included; 0 for none.'),
    keepAliveTimeout: z.int().min(0).max(3_600_000).default(5_000).describe('Milliseconds an idle keep-alive connection is kept open between requests.'),
    idleTimeout: z.int().min(0).max(3_600_000).default(60_000).describe('Milliseconds without progress in either direction (a client that stopped reading) before the connection is closed; 0 for none.'),
    maxHeaderSize: z.int().min(1024).max(1_048_576).default(16_384).describe('Bytes of request line and headers; more is 431.'),
    maxUrlLength: z.int().min(16).max(8190).default(8190).describe('Characters of request target; more is 414. At most 8190 (Apache\'s LimitRequestLine).'),
    maxConnections: z.int().min(1).max(1_000_000).default(4096).describe('Concurrent connections per process; a connection beyond it is closed at once.'),
  }).default({ headersTimeout: 20_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, idleTimeout: 60_000, maxHeaderSize: 16_384, maxUrlLength: 8190, maxConnections: 4096 }).describe('Timeouts and sizes that bound what one client can hold (all times in milliseconds).'),
  shutdownGrace: z.int().min(0).max(3_600_000).default(10_000).describe('On SIGTERM/SIGINT: milliseconds in-flight responses may take to finish before the process exits anyway. A second signal exits at once.'),
  watch: z.boolean().default(false).describe('Reload when the config file changes (as SIGHUP does); an invalid new config is logged and the running one kept.'),
  tls: z.strictObject({
    cert: z.string().min(1).describe('PEM certificate (chain), relative to the config file.'),
    key: z.string().min(1).describe('PEM private key, relative to the config file.'),
    ca: z.string().min(1).optional().describe('PEM CA certificates to send with the chain.'),
    passphraseEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'an environment variable name' }).optional().describe('Name of the environment variable that holds the key\'s passphrase (never the passphrase itself).'),
    redirectFrom: z.int().min(0).max(65535).optional().describe('Also listen for plain HTTP on this port and answer every request with a 301 to https (0 picks a free port).'),
  }).optional().describe('Serve HTTPS (HTTP/2 with ALPN, HTTP/1.1 for clients without it). PEM files relative to the config file.'),
  workers: z.union([z.int().min(1).max(1024), z.literal('auto')]).default(1).describe('Processes sharing the port (node:cluster); "auto" is one per core.'),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ConfigData = z.output<typeof configSchema>;
export type RuleData = z.output<typeof ruleSchema>;
