// Every core: `workers: N | "auto"` runs N processes with node:cluster sharing one port. The
// primary binds (through the cluster, as root if started so), drops privileges once the workers
// listen, prints the contract line, supervises (a worker that dies is replaced and logged), and
// passes reload and shutdown on to every worker. The primary reads the TLS key (as root, before
// it drops) and hands it to each worker over the IPC channel, so a replacement worker started
// after the drop can still serve a key only root may read.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';

/** TLS material as it crosses the IPC channel (PEM text). */
export interface TlsWire {
  cert: string;
  key: string;
  ca?: string;
  passphrase?: string;
}

export type WorkerMessage =
  | { type: 'hello' }
  | { type: 'listening'; url: string; redirectPort?: number }
  | { type: 'reloaded' }
  | { type: 'reload-failed'; error: string };
export type PrimaryMessage = { type: 'tls'; tls: TlsWire } | { type: 'announced' } | { type: 'reload'; tls?: TlsWire } | { type: 'shutdown' };

export function workerCount(setting: number | 'auto' | undefined): number {
  if (setting === undefined) return 1;
  return setting === 'auto' ? Math.max(1, availableParallelism()) : Math.max(1, setting);
}

export interface PrimaryOptions {
  workers: number;
  /** Validates the config again on reload; an error text, or the TLS material to hand out. */
  validate(): { error: string } | { tls?: TlsWire | undefined };
  /** The TLS material a new worker gets (undefined without tls). */
  tls(): TlsWire | undefined;
  /**
   * Called once, when every first worker listens: drop privileges, print the contract line.
   * Returns an error text to stop the server instead.
   */
  onListening(url: string, redirectPort: number | undefined): string | undefined;
  graceMs: number;
  log(line: string): void;
}

export interface Primary {
  /** Resolves with the exit code once every worker has exited. */
  done: Promise<number>;
  /** SIGHUP's work, also for `watch`. */
  reload(): void;
}

/** A worker that dies this soon after it started is replaced only after a pause. */
const QUICK_DEATH_MS = 1000;

export function runPrimary(o: PrimaryOptions): Primary {
  // Workers accept on the shared socket themselves (as Apache's and nginx's children do), not
  // through the primary (node's round-robin default): there a connection being handed to a
  // worker at the moment it dies is never closed, and its client hangs. With a shared socket
  // a dying worker loses only the connections it had accepted; the kernel's queue keeps the
  // rest for the others. NODE_CLUSTER_SCHED_POLICY=rr still selects round-robin.
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  let announced = false;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const listening = new Set<number>();
  const started = new Map<number, number>();
  let pendingReload: { waiting: Set<number>; failed: string[]; timer: NodeJS.Timeout } | undefined;

  const live = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);

  const finishReload = (): void => {
    if (!pendingReload) return;
    clearTimeout(pendingReload.timer);
    const { failed, waiting } = pendingReload;
    for (const id of waiting) failed.push(`worker ${cluster.workers?.[id]?.process.pid ?? id} did not confirm`);
    pendingReload = undefined;
    o.log(failed.length ? `keycard: config reloaded, but ${failed.join('; ')}` : `keycard: config reloaded (${live().length} workers)`);
  };

  const fork = (): Worker => {
    const w = cluster.fork({ KEYCARD_WORKER: '1' });
    started.set(w.id, Date.now());
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'hello') {
        // The worker listens for messages now (one sent before would be lost): its TLS material.
        const tls = o.tls();
        if (tls) w.send({ type: 'tls', tls } satisfies PrimaryMessage);
        if (announced) w.send({ type: 'announced' } satisfies PrimaryMessage);
      } else if (m.type === 'listening') {
        listening.add(w.id);
        o.log(`keycard: worker ${w.process.pid} listening`);
        if (!announced && listening.size >= o.workers) {
          announced = true;
          const error = o.onListening(m.url, m.redirectPort);
          if (error !== undefined) {
            o.log(`keycard: ${error}`);
            stop(1);
          } else broadcast({ type: 'announced' }); // workers may write access lines now
        }
      } else if (m.type === 'reloaded' || m.type === 'reload-failed') {
        if (m.type === 'reload-failed') pendingReload?.failed.push(`worker ${w.process.pid} kept its config: ${m.error}`);
        pendingReload?.waiting.delete(w.id);
        if (pendingReload?.waiting.size === 0) finishReload();
      }
    });
    return w;
  };

  const broadcast = (m: PrimaryMessage): void => {
    for (const w of live()) if (w.isConnected()) w.send(m);
  };

  let exitCode = 0;
  const stop = (code = 0): void => {
    if (stopping) {
      // A second signal: at once.
      for (const w of live()) w.process.kill('SIGKILL');
      process.exit(exitCode);
    }
    stopping = true;
    exitCode = code;
    broadcast({ type: 'shutdown' });
    if (live().length === 0) resolveDone(exitCode);
    setTimeout(() => {
      for (const w of live()) w.process.kill('SIGKILL');
      resolveDone(exitCode);
    }, o.graceMs + 2000).unref();
  };

  cluster.on('exit', (w, code, signal) => {
    listening.delete(w.id);
    pendingReload?.waiting.delete(w.id);
    if (pendingReload?.waiting.size === 0) finishReload();
    if (stopping) {
      if (live().length === 0) resolveDone(exitCode);
      return;
    }
    if (!announced) {
      // A worker that cannot start (a busy port, a bad certificate) would fail again: stop.
      o.log(`keycard: worker ${w.process.pid} exited before listening (${signal ?? `code ${code}`}); stopping`);
      stop(1);
      return;
    }
    const lived = Date.now() - (started.get(w.id) ?? 0);
    started.delete(w.id);
    const delay = lived < QUICK_DEATH_MS ? QUICK_DEATH_MS : 0;
    o.log(`keycard: worker ${w.process.pid} exited (${signal ?? `code ${code}`}); starting a replacement${delay ? ` in ${delay} ms` : ''}`);
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  for (let i = 0; i < o.workers; i++) fork();

  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));
  const reload = (): void => {
    if (stopping) return;
    const v = o.validate();
    if ('error' in v) {
      o.log(`keycard: reload rejected, keeping the running config:\n${v.error}`);
      return;
    }
    if (pendingReload) clearTimeout(pendingReload.timer);
    const waiting = new Set(live().filter((w) => w.isConnected()).map((w) => w.id));
    pendingReload = { waiting, failed: [], timer: setTimeout(finishReload, 5000) };
    pendingReload.timer.unref();
    broadcast(v.tls ? { type: 'reload', tls: v.tls } : { type: 'reload' });
    if (waiting.size === 0) finishReload();
  };
  process.on('SIGHUP', reload);
  return { done, reload };
}
