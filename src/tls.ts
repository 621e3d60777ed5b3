// TLS material: PEM certificate, key and optional CA chain from files, the key's passphrase from
// an environment variable (never from the config file), checked before the server starts: a
// missing file, a key that does not match the certificate, an expired certificate (a warning:
// the server still starts, as a browser will say the rest).
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string | undefined;
  /** Name of the environment variable that holds the key's passphrase. */
  passphraseEnv?: string | undefined;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  passphrase?: string;
  warnings: string[];
  /** Subject and expiry, for the startup line. */
  summary: string;
}

export class TlsError extends Error {}

function read(label: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsError(`tls.${label}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

export function loadTls(files: TlsFiles, env: NodeJS.ProcessEnv = process.env, now = Date.now()): TlsMaterial {
  const cert = read('cert', files.cert);
  const key = read('key', files.key);
  const ca = files.ca !== undefined ? read('ca', files.ca) : undefined;
  let passphrase: string | undefined;
  if (files.passphraseEnv !== undefined) {
    passphrase = env[files.passphraseEnv];
    if (passphrase === undefined) throw new TlsError(`tls.passphraseEnv: environment variable ${files.passphraseEnv} is not set`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsError(`tls.cert: ${files.cert} is not a PEM certificate (${(err as Error).message})`);
  }
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
  } catch (err) {
    const msg = (err as Error).message;
    throw new TlsError(`tls.key: ${files.key} cannot be read as a private key${/passphrase|decrypt|interrupted or cancelled/i.test(msg) || /ENCRYPTED/.test(key.toString("latin1")) ? ' (wrong or missing passphrase: set tls.passphraseEnv)' : ''}: ${msg}`);
  }
  if (!x509.checkPrivateKey(keyObject)) throw new TlsError(`tls.key: ${files.key} does not match the certificate ${files.cert}`);
  const warnings: string[] = [];
  const validTo = Date.parse(x509.validTo);
  const validFrom = Date.parse(x509.validFrom);
  if (validTo < now) warnings.push(`the certificate ${files.cert} expired on ${x509.validTo}`);
  else if (validFrom > now) warnings.push(`the certificate ${files.cert} is not valid before ${x509.validFrom}`);
  const m: TlsMaterial = { cert, key, warnings, summary: `${x509.subject.replace(/\n/g, ', ')}, valid until ${x509.validTo}` };
  if (ca) m.ca = ca;
  if (passphrase !== undefined) m.passphrase = passphrase;
  return m;
}
