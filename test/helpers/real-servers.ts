// Real Apache httpd and nginx on loopback for differential tests: each started in the
// foreground from a minimal wrapper config the test writes into a temp folder, checked with
// `-t` first, as `www-data` when the tests run as root. Absent servers are reported through
// HAVE_APACHE / HAVE_NGINX so a suite can skip cleanly (CI installs both).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import { expect } from 'vitest';
import { isRoot } from './tree.js';

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}
export const APACHE = which('apache2') ?? which('httpd');
export const NGINX = which('nginx');
const APACHE_MODULES = ['/usr/lib/apache2/modules', '/usr/lib64/httpd/modules', '/usr/lib/httpd/modules'].find((d) => existsSync(path.join(d, 'mod_dir.so')));
const MIME_TYPES = ['/etc/mime.types', '/etc/apache2/mime.types', '/etc/httpd/conf/mime.types'].find((f) => existsSync(f));
const NGINX_MIME = ['/etc/nginx/mime.types'].find((f) => existsSync(f));
export const HAVE_APACHE = APACHE !== undefined && APACHE_MODULES !== undefined && MIME_TYPES !== undefined;
export const HAVE_NGINX = NGINX !== undefined && NGINX_MIME !== undefined;
export const TARGET_USER = 'www-data';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once the port accepts a connection; rejects if the process exits first. */
function ready(child: ChildProcess, port: number, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    child.once('exit', (code) => {
      if (!done) reject(new Error(`exited with ${code} before listening:\n${log()}`));
      done = true;
    });
    const attempt = (): void => {
      if (done) return;
      const sock = net.connect({ port, host: '127.0.0.1' }, () => {
        sock.destroy();
        done = true;
        resolve();
      });
      sock.once('error', () => setTimeout(attempt, 50));
    };
    attempt();
  });
}

export interface RealServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

/** Builds the wrapper httpd.conf around the exported vhost, checks it, and starts Apache. */
export async function startApache(dir: string, exported: string, port: number, extraModules: readonly string[] = []): Promise<RealServer> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'vhost.conf'), exported);
  const builtIn = spawnSync(APACHE!, ['-l'], { encoding: 'utf8' }).stdout;
  const modules = ['mpm_event', 'authz_core', 'authz_host', 'dir', 'autoindex', 'mime', 'alias', 'remoteip', 'headers', 'allowmethods', 'unixd', 'log_config', ...extraModules]
    .filter((m) => !builtIn.includes(`mod_${m}.c`) && !(m === 'mpm_event' && /mpm_\w+\.c/.test(builtIn)));
  const conf = [
    `ServerRoot "${dir}"`,
    `DefaultRuntimeDir "${dir}"`,
    `PidFile "${dir}/httpd.pid"`,
    `ErrorLog "${dir}/error.log"`,
    'LogLevel warn',
    ...modules.map((m) => `LoadModule ${m}_module "${APACHE_MODULES}/mod_${m}.so"`),
    `TypesConfig "${MIME_TYPES}"`,
    ...(isRoot ? [`User ${TARGET_USER}`, `Group ${TARGET_USER}`] : []),
    'ServerName localhost',
    `Include "${dir}/vhost.conf"`,
    '',
  ].join('\n');
  const file = path.join(dir, 'httpd.conf');
  writeFileSync(file, conf);
  const check = spawnSync(APACHE!, ['-t', '-f', file], { encoding: 'utf8' });
  expect(check.status, `apache2 -t:\n${check.stderr}${check.stdout}`).toBe(0);
  const child = spawn(APACHE!, ['-f', file, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  await ready(child, port, () => err);
  return { port, child, stop: stopper(child) };
}

/** Builds the wrapper nginx.conf around the exported server block, checks it, and starts nginx. */
export async function startNginx(dir: string, exported: string, port: number): Promise<RealServer> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'exported.conf'), exported);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path "${dir}/${t}";`);
  const conf = [
    ...(isRoot ? [`user ${TARGET_USER};`] : []),
    `pid "${dir}/nginx.pid";`,
    `error_log "${dir}/error.log" warn;`,
    'worker_processes 1;',
    'events { worker_connections 64; }',
    'http {',
    `    include "${NGINX_MIME}";`,
    '    access_log off;',
    ...temps,
    `    include "${dir}/exported.conf";`,
    '}',
    '',
  ].join('\n');
  const file = path.join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const args = ['-c', file, '-p', dir, '-e', path.join(dir, 'startup.log')];
  const check = spawnSync(NGINX!, [...args, '-t'], { encoding: 'utf8' });
  expect(check.status, `nginx -t:\n${check.stderr}${check.stdout}`).toBe(0);
  const child = spawn(NGINX!, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  await ready(child, port, () => err);
  return { port, child, stop: stopper(child) };
}

