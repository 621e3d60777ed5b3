// Self-signed certificates for TLS tests, made by openssl in a temp dir.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
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

/** A self-signed certificate that expired in 2020 (openssl ca, which takes explicit dates). */
export function makeExpiredCert(name = 'expired'): CertPair {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'keycard-tls-'));
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cnf = path.join(dir, 'ca.cnf');
  writeFileSync(path.join(dir, 'index.txt'), '');
  writeFileSync(path.join(dir, 'serial'), '01\n');
  writeFileSync(cnf, `[ca]\ndefault_ca = d\n[d]\ndatabase = ${dir}/index.txt\nnew_certs_dir = ${dir}\nserial = ${dir}/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n[p]\ncommonName = supplied\n`);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr], { stdio: 'ignore' });
  execFileSync('openssl', ['ca', '-batch', '-config', cnf, '-selfsign', '-keyfile', key, '-in', csr, '-out', cert, '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext'], { stdio: 'ignore' });
  return { dir, cert, key };
}
