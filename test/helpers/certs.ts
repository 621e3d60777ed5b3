// Self-signed certificates for TLS tests, made by openssl in a temp dir.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';

export interface CertPair {
  dir: string;
  cert: string;
  key: string;
}

export function makeCert(name = 'localhost', opts: { passphrase?: string } = {}): CertPair {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keycard-tls-'));
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`, '-keyout', key, '-out', cert];
  if (opts.passphrase !== undefined) args.push('-passout', `pass:${opts.passphrase}`);
  else args.push('-nodes');
  execFileSync('openssl', args, { stdio: 'ignore' });
  return { dir, cert, key };
}
