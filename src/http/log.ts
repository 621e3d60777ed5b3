// Logs. Access lines in Combined Log Format on stdout; an Apache-style error line per refusal
// on stderr with keycard's reason code and the filesystem path. Both are buffered and written
// every FLUSH_MS: a write per line costs a static server 7–26% of its rate.
import cluster from 'node:cluster';
import { writeSync } from 'node:fs';
import type { Decision } from '../decision.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

// Both timestamps change once a second (plus milliseconds for the error log): formatted once
// per second, not per line.
let clfSecond = Number.NaN;
let clfText = '';
let errSecond = Number.NaN;
let errHead = '';
let errTail = '';

/** `[22/Nov/2026:01:42:53 +0000]`, local time as Apache writes it; `ms` since the epoch. */
export function clfTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second === clfSecond) return clfText;
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  clfText = `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
  clfSecond = second;
  return clfText;
}

/** `[Sun Nov 22 01:42:53.123000 2026]`, Apache's error-log timestamp; `ms` since the epoch. */
export function errorTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== errSecond) {
    const d = new Date(ms);
    errHead = `[${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.`;
    errTail = `000 ${d.getFullYear()}]`;
    errSecond = second;
  }
  return errHead + MILLIS[(ms - second * 1000) | 0]! + errTail;
}
const MILLIS = Array.from({ length: 1000 }, (_, i) => pad(i, 3));

/** Quotes a request field the way mod_log_config does: `"` and `\` escaped, controls as \xhh. */
export function logEscape(s: string): string {
  // Most fields need nothing: one test, and no replace() with a callback.
  if (!LOG_SPECIAL.test(s)) return s;
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\\"\x00-\x1f\x7f-\xff]/g, (c) => (c === '"' ? '\\"' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

// eslint-disable-next-line no-control-regex
const LOG_SPECIAL = /[\\"\x00-\x1f\x7f-\xff]/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** The longest a log line waits in memory before it is written. */
export const FLUSH_MS = 50;

/** POSIX PIPE_BUF on Linux: a write(2) of at most this many bytes to a pipe is never interleaved. */
export const PIPE_BUF = 4096;

/**
 * Log lines, gathered and written at most every FLUSH_MS (or as soon as the buffer is full),
 * and when the process exits. A write per line, or even per event-loop turn, costs a server
 * answering small requests a tenth of its rate; a line may reach the file up to FLUSH_MS late
 * (and a SIGKILL loses at most that much). Each line is copied at once into one buffer outside
 * the JavaScript heap, so no line string outlives its request (strings held for 50 ms would
 * survive the young-generation collections and cost more than the write they save).
 * `atomic` (the default in a cluster worker, whose stdout is the pipe every worker shares):
 * the buffer is PIPE_BUF bytes and each write(2) ends on a line boundary, so lines from
 * different workers never interleave mid-line. A single line longer than that is written on
 * its own.
 */
export class BufferedWriter {
  private readonly buf: Buffer;
  private used = 0;
  private scheduled = false;

  constructor(
    fd: number,
    limit = 64 * 1024,
    atomic = cluster.isWorker,
    private readonly out: (bytes: Buffer) => void = (bytes) => writeAll(fd, bytes),
  ) {
    this.buf = Buffer.allocUnsafeSlow(atomic ? Math.min(limit, PIPE_BUF) : limit);
    process.once('exit', () => this.flush());
  }

  write(line: string): void {
    // A UTF-16 unit is at most 3 bytes of UTF-8: with that much room, write without measuring.
    if (this.buf.length - this.used >= line.length * 3) {
      this.used += this.buf.write(line, this.used, 'utf8');
      this.schedule();
      return;
    }
    const len = Buffer.byteLength(line, 'utf8');
    if (this.used + len > this.buf.length) this.flush();
    if (len > this.buf.length) {
      this.emit(Buffer.from(line, 'utf8'));
      return;
    }
    this.used += this.buf.write(line, this.used, 'utf8');
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  flush(): void {
    this.scheduled = false;
    if (this.used === 0) return;
    const bytes = this.buf.subarray(0, this.used);
    this.used = 0;
    this.emit(bytes); // synchronous: the buffer is free again when it returns
  }

  private emit(bytes: Buffer): void {
    try {
      this.out(bytes);
    } catch {
      // A closed stdout (EPIPE) must not take the server down.
    }
  }
}

/** One buffer, retried on a full non-blocking pipe (EAGAIN) and after a short write. */
function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  let spins = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++spins > 1000) throw err;
      Atomics.wait(SLEEP, 0, 0, 1); // 1 ms, then again: the reader is draining the pipe
    }
  }
}
const SLEEP = new Int32Array(new SharedArrayBuffer(4));

export interface AccessEntry {
  client: string;
  method: string;
  target: string;
  httpVersion: string;
  status: number;
  bytes: number;
  referer: string | undefined;
  userAgent: string | undefined;
  /** When the request arrived, in ms since the epoch. */
  time: number;
  /** The request line as received, for a request that could not be parsed ('-' if none came). */
  line?: string;
}

export function accessLine(e: AccessEntry): string {
  const request = e.line ?? `${e.method} ${e.target} HTTP/${e.httpVersion}`;
  return `${e.client} - - ${clfTime(e.time)} "${logEscape(request)}" ${e.status} ${e.bytes > 0 ? e.bytes : '-'} "${logEscape(e.referer ?? '-')}" "${logEscape(e.userAgent ?? '-')}"\n`;
}

/** `time`: when the request arrived, in ms since the epoch. */
export function errorLine(d: Decision, client: string, port: number | undefined, time: number): string {
  const level = d.status >= 500 || d.status === 403 ? ERROR_LEVEL : INFO_LEVEL;
  return `${errorTime(time)}${level}${client}:${port ?? 0}${tailOf(d)}`;
}

// What follows the client in an error line depends on the decision alone. A decision kept and
// shared by many requests (frozen: policy/remembered.ts) has it built, and its message checked
// for control characters, once.
const TAILS = new WeakMap<Decision, string>();

function tailOf(d: Decision): string {
  let tail = TAILS.get(d);
  if (tail === undefined) {
    const masked = d.masked ? ` (answered 404: ${d.masked.by})` : '';
    tail = `] ${d.code} ${d.reason}: ${!CONTROL.test(d.message) ? d.message : d.message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}${masked}\n`;
    if (Object.isFrozen(d)) TAILS.set(d, tail);
  }
  return tail;
}
const ERROR_LEVEL = ` [keycard:error] [pid ${process.pid}] [client `;
const INFO_LEVEL = ` [keycard:info] [pid ${process.pid}] [client `;
