import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTls, TlsError } from '../../src/tls.js';
import { makeCert } from '../helpers/certs.js';

const a = makeCert('localhost');
const b = makeCert('other');
const locked = makeCert('locked', { passphrase: 's3cret' });
afterAll(() => [a, b, locked].forEach((c) => rmSync(c.dir, { recursive: true, force: true })));

describe('TLS material', () => {
  it('loads a matching certificate and key', () => {
    const m = loadTls({ cert: a.cert, key: a.key });
    expect(m.warnings).toEqual([]);
    expect(m.summary).toContain('CN=localhost');
  });

  it('names a missing file', () => {
    expect(() => loadTls({ cert: a.cert + '.missing', key: a.key })).toThrow(/tls.cert: cannot read .*missing \(ENOENT\)/);
  });

  it('refuses a key that does not match the certificate', () => {
    expect(() => loadTls({ cert: a.cert, key: b.key })).toThrow(TlsError);
    expect(() => loadTls({ cert: a.cert, key: b.key })).toThrow(/does not match the certificate/);
  });

  it('takes the passphrase from the named environment variable only', () => {
    expect(() => loadTls({ cert: locked.cert, key: locked.key })).toThrow(/passphrase/);
    expect(() => loadTls({ cert: locked.cert, key: locked.key, passphraseEnv: 'KC_PASS' }, {})).toThrow(/KC_PASS is not set/);
    expect(loadTls({ cert: locked.cert, key: locked.key, passphraseEnv: 'KC_PASS' }, { KC_PASS: 's3cret' }).passphrase).toBe('s3cret');
  });

  it('warns about an expired certificate but still loads it', () => {
    const m = loadTls({ cert: a.cert, key: a.key }, process.env, Date.now() + 10 * 86_400_000);
    expect(m.warnings[0]).toMatch(/expired/);
  });
});
