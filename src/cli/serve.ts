// `keycard serve`: load the config, bind, drop privileges, print the contract line
// `listening on http://HOST:PORT` (https:// with `tls`) as the first line of stdout, and
// handle signals: SIGHUP (and, with `watch`, a change of the config file) reloads, SIGTERM and
// SIGINT stop gracefully, a second one at once. With `workers` > 1 the same runs in every
// worker of a node:cluster, and the primary supervises (src/cluster.ts).
import cluster from 'node:cluster';
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { loadConfig, formatConfigErrors, type Config, type LoadOptions } from '../config/load.js';
import { createKeycardServer, urlHost, type KeycardServer } from '../server.js';
import { runPrimary, workerCount, type PrimaryMessage, type TlsWire, type WorkerMessage } from '../cluster.js';
import { loadTls, TlsError, type TlsMaterial } from '../tls.js';
import { dropPrivileges } from '../sys/users.js';
import { BufferedWriter } from '../http/log.js';
import { EXIT } from './args.js';

function listenError(err: NodeJS.ErrnoException & { redirectPort?: number }, host: string, configuredPort: number): string {
  const port = err.redirectPort ?? configuredPort;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}${err.redirectPort !== undefined ? ' (tls.redirectFrom)' : ''}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is already in use`;
    case 'EACCES':
      return `cannot listen on ${where}: permission denied (ports below 1024 need root)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: no such local address`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${where}: unknown host`;
    default:
      return `cannot listen on ${where}: ${err.message}`;
  }
}

const log = (line: string): void => {
  process.stderr.write(line.endsWith('\n') ? line : line + '\n');
};

/** The certificate and key of `config.tls`, checked; throws TlsError with one line. */
function tlsOf(config: Config): TlsMaterial | undefined {
  if (config.data.tls === undefined) return undefined;
  const m = loadTls(config.data.tls);
  for (const w of m.warnings) log(`keycard: warning: ${w}`);
  return m;
}

function toWire(m: TlsMaterial): TlsWire {
  const w: TlsWire = { cert: m.cert.toString('latin1'), key: m.key.toString('latin1') };
  if (m.ca) w.ca = m.ca.toString('latin1');
  if (m.passphrase !== undefined) w.passphrase = m.passphrase;
  return w;
}

function fromWire(w: TlsWire): TlsMaterial {
  const m: TlsMaterial = { cert: Buffer.from(w.cert, 'latin1'), key: Buffer.from(w.key, 'latin1'), warnings: [], summary: '' };
  if (w.ca !== undefined) m.ca = Buffer.from(w.ca, 'latin1');
  if (w.passphrase !== undefined) m.passphrase = w.passphrase;
  return m;
}

/** Settings a reload cannot change in a running process: said, not silently ignored. */
function restartOnly(a: Config, b: Config): string[] {
  const out: string[] = [];
  for (const k of ['host', 'port', 'user', 'group', 'workers', 'watch'] as const) if (JSON.stringify(a.data[k]) !== JSON.stringify(b.data[k])) out.push(k);
  if ((a.data.tls === undefined) !== (b.data.tls === undefined)) out.push('tls');
  else if (a.data.tls?.redirectFrom !== b.data.tls?.redirectFrom) out.push('tls.redirectFrom');
  return out;
}

type Reloaded = { ok: true; config: Config; tls: TlsMaterial | undefined } | { ok: false; error: string };

/** Loads the config file again, with the certificates it names; nothing is applied here. */
function reloadConfig(load: LoadOptions, running: Config): Reloaded {
  const next = loadConfig(load);
  if (!next.ok) return { ok: false, error: formatConfigErrors(next.errors, load.file) };
  let tls: TlsMaterial | undefined;
  try {
    tls = tlsOf(next.config);
  } catch (err) {
    if (err instanceof TlsError) return { ok: false, error: `keycard: ${err.message}` };
    throw err;
  }
  const fixed = restartOnly(running, next.config);
  if (fixed.length) log(`keycard: warning: a change to ${fixed.join(', ')} needs a restart; keeping the running value`);
  return { ok: true, config: next.config, tls };
}

/**
 * `watch`: reloads when the config file changes. The folder is watched, not the file, so an
 * editor that saves by writing a new file and renaming it over the old one is seen too; a
 * burst of events is one reload (debounced), and a save that changes nothing is none.
 */
function watchConfig(file: string, reload: () => void): FSWatcher | undefined {
  const read = (): string | undefined => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  };
  let last = read();
  let timer: NodeJS.Timeout | undefined;
  try {
    const w = watch(path.dirname(file), { persistent: false }, (_event, name) => {
      if (name !== null && name !== path.basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        const now = read();
        if (now === undefined || now === last) return;
        last = now;
        reload();
      }, 150);
    });
    w.on('error', (err) => log(`keycard: watching ${file} stopped: ${err.message}`));
    return w;
  } catch (err) {
    log(`keycard: warning: cannot watch ${file}: ${(err as Error).message}`);
    return undefined;
  }
}

function announce(url: string, config: Config, redirectPort: number | undefined): void {
  process.stdout.write(`listening on ${url}\n`);
  if (redirectPort !== undefined) log(`keycard: ${urlHost(config.data.host, redirectPort)} redirects to ${url}`);
}

function dropOrWarn(config: Config): string | undefined {
  if (config.data.user !== undefined) {
    try {
      dropPrivileges(config.data.user, config.data.group);
    } catch (err) {
      return (err as Error).message;
    }
  } else if (process.getuid?.() === 0 && !cluster.isWorker) {
    log('keycard: warning: running as root without "user": root bypasses file permissions, so no file or directory will be refused for its mode bits. Set "user" (e.g. "www-data") to see what that user would see.');
  }
  return undefined;
}

export async function serve(load: LoadOptions): Promise<number> {
  const loaded = loadConfig(load);
  if (!loaded.ok) {
    process.stderr.write(formatConfigErrors(loaded.errors, load.file) + '\n');
    return EXIT.USAGE;
  }
  const config = loaded.config;
  if (cluster.isWorker) return worker(load, config);
  let tls: TlsMaterial | undefined;
  try {
    tls = tlsOf(config);
  } catch (err) {
    if (!(err instanceof TlsError)) throw err;
    log(`keycard: ${err.message}`);
    return EXIT.FAILURE;
  }
  const workers = workerCount(config.data.workers);
  return workers > 1 ? primary(load, config, workers, tls) : single(load, config, tls);
}

/** One process: the server itself. */
async function single(load: LoadOptions, config: Config, tls: TlsMaterial | undefined): Promise<number> {
  const ks = createKeycardServer(config, tls ? { tls } : {});
  let bound;
  try {
    bound = await ks.listen();
  } catch (err) {
    log(`keycard: ${listenError(err as NodeJS.ErrnoException, config.data.host, config.data.port)}`);
    return EXIT.FAILURE;
  }
  let running = config;
  const reload = (): void => {
    const r = reloadConfig(load, running);
    if (!r.ok) {
      log(`keycard: reload rejected, keeping the running config:\n${r.error}`);
      return;
    }
    running = r.config;
    ks.reload(r.config, r.tls);
    log('keycard: config reloaded');
  };
  // Watched before the privilege drop: the folder may be readable only by the starting user.
  if (config.data.watch && config.file !== undefined) watchConfig(config.file, reload);
  const dropError = dropOrWarn(config);
  if (dropError !== undefined) {
    log(`keycard: ${dropError}`);
    ks.server.close();
    return EXIT.FAILURE;
  }
  announce(bound.url, config, bound.redirectPort);
  handleStop(ks, () => running.data.shutdownGrace);
  process.on('SIGHUP', reload);
  return new Promise<number>(() => {});
}

/** SIGTERM / SIGINT: graceful, within the grace period; a second signal: at once. */
function handleStop(ks: KeycardServer, grace: () => number): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(EXIT.OK);
    stopping = true;
    const ms = grace();
    ks.shutdown(ms).then(() => process.exit(EXIT.OK));
    setTimeout(() => process.exit(EXIT.OK), ms + 1000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** The cluster's primary: forks, supervises, relays reload and shutdown; serves nothing itself. */
async function primary(load: LoadOptions, config: Config, workers: number, tls: TlsMaterial | undefined): Promise<number> {
  let running = config;
  let wire = tls ? toWire(tls) : undefined;
  const p = runPrimary({
    workers,
    graceMs: config.data.shutdownGrace,
    log,
    tls: () => wire,
    validate() {
      const r = reloadConfig(load, running);
      if (!r.ok) return { error: r.error };
      running = r.config;
      if (r.tls) wire = toWire(r.tls);
      return { tls: r.tls ? wire : undefined };
    },
    onListening(url, redirectPort) {
      // Every worker has bound (the primary holds the shared socket) and dropped its own
      // privileges; now the primary drops its own.
      const error = dropOrWarn(config);
      if (error !== undefined) return error;
      announce(url, config, redirectPort);
      return undefined;
    },
  });
  if (config.data.watch && config.file !== undefined) watchConfig(config.file, () => p.reload());
  const code = await p.done;
  process.exit(code);
}

/** A cluster worker: the server, told what to do by the primary over IPC. */
async function worker(load: LoadOptions, config: Config): Promise<number> {
  const messages: PrimaryMessage[] = [];
  let waiter: (() => void) | undefined;
  process.on('message', (m: PrimaryMessage) => {
    messages.push(m);
    waiter?.();
  });
  const send = (m: WorkerMessage): void => {
    if (process.connected) process.send!(m);
  };
  send({ type: 'hello' });
  let tls: TlsMaterial | undefined;
  if (config.data.tls !== undefined) {
    // The primary read (and checked) the key; it sends it in answer to the hello.
    while (!messages.some((m) => m.type === 'tls')) await new Promise<void>((r) => (waiter = r));
    const m = messages.splice(messages.findIndex((x) => x.type === 'tls'), 1)[0] as Extract<PrimaryMessage, { type: 'tls' }>;
    tls = fromWire(m.tls);
  }
  // Access lines wait until the primary has printed the contract line (a request can reach a
  // worker on a fixed port before every worker listens), then go out in pipe-atomic writes.
  const writer = new BufferedWriter(1);
  let held: string[] | undefined = [];
  const accessLog = (line: string): void => {
    if (!ks.handler.config.data.accessLog) return;
    if (held === undefined) writer.write(line);
    else if (held.length < 10_000) held.push(line);
  };
  let ks: KeycardServer;
  try {
    ks = createKeycardServer(config, tls ? { tls, accessLog } : { accessLog });
  } catch (err) {
    log(`keycard: ${(err as Error).message}`);
    process.exit(EXIT.FAILURE);
  }
  let bound;
  try {
    bound = await ks.listen();
  } catch (err) {
    log(`keycard: ${listenError(err as NodeJS.ErrnoException, config.data.host, config.data.port)}`);
    process.exit(EXIT.FAILURE);
  }
  const dropError = dropOrWarn(config);
  if (dropError !== undefined) {
    log(`keycard: ${dropError}`);
    process.exit(EXIT.FAILURE);
  }
  let running = config;
  const handle = (m: PrimaryMessage): void => {
    if (m.type === 'reload') {
      const next = loadConfig(load);
      if (!next.ok) {
        send({ type: 'reload-failed', error: formatConfigErrors(next.errors, load.file).replace(/\n/g, '; ') });
        return;
      }
      running = next.config;
      ks.reload(next.config, m.tls ? fromWire(m.tls) : undefined);
      send({ type: 'reloaded' });
    } else if (m.type === 'shutdown') {
      stopGracefully();
    } else if (m.type === 'announced' && held !== undefined) {
      for (const line of held) writer.write(line);
      held = undefined;
    }
  };
  let stopping = false;
  const stopGracefully = (): void => {
    if (stopping) return;
    stopping = true;
    const ms = running.data.shutdownGrace;
    ks.shutdown(ms).then(() => process.exit(EXIT.OK));
    setTimeout(() => process.exit(EXIT.OK), ms + 1000).unref();
  };
  // A terminal's Ctrl-C reaches every process of the group: the first is graceful (the
  // primary asks the same), a second one exits at once. SIGHUP is the primary's to relay.
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) process.exit(EXIT.OK);
    stopGracefully();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => {});
  waiter = () => {
    for (const m of messages.splice(0)) handle(m);
  };
  waiter();
  send({ type: 'listening', url: bound.url, ...(bound.redirectPort !== undefined ? { redirectPort: bound.redirectPort } : {}) });
  return new Promise<number>(() => {});
}
