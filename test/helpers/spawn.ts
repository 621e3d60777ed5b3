// Runs the real keycard binary (dist/cli.js) on port 0 and reads the contract line
// `listening on http://HOST:PORT` from its stdout; stderr (the error log) is collected.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

export interface Running {
  url: string;
  port: number;
  host: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(): Promise<void>;
}

export function writeConfig(file: string, config: Record<string, unknown>): string {
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function startServer(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, PORT: '', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`keycard did not start: ${err}`)), 10_000);
    function fail(e: Error): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(e);
    }
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (settled) return;
      const first = out.split('\n')[0]!;
      if (!out.includes('\n')) return;
      const m = /^listening on (https?:\/\/(\[[^\]]+\]|[^:]+):(\d+))$/.exec(first);
      if (!m) return fail(new Error(`unexpected first line: ${JSON.stringify(first)}`));
      settled = true;
      clearTimeout(timer);
      resolve({
        url: m[1]!,
        host: m[2]!.replace(/^\[|\]$/g, ''),
        port: Number(m[3]),
        child,
        stdout: () => out,
        stderr: () => err,
        stop: () =>
          new Promise((r) => {
            if (child.exitCode !== null) return r();
            child.once('exit', () => r());
            child.kill('SIGKILL');
          }),
      });
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('exit', (code) => fail(new Error(`keycard exited with ${code}: ${err}`)));
  });
}

/** Runs the CLI to completion (for check, explain, audit, bad-config cases). */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd, env: { ...process.env, PORT: '', ...opts.env }, encoding: 'utf8', timeout: opts.timeout ?? 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
