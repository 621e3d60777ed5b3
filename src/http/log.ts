// Logs. Access lines in Combined Log Format on stdout; an Apache-style error line per refusal
// on stderr with keycard's reason code and the filesystem path. Access lines are buffered and
// written once per event-loop turn: a write per line costs a static server 7–26% of its rate.
import { writeSync } from 'node:fs';
import type { Decision } from '../decision.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `[22/Nov/2026:01:42:53 +0000]`, local time as Apache writes it. */
export function clfTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `[${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}]`;
}

/** `[Sun Nov 22 01:42:53.123000 2026]`, Apache's error-log timestamp. */
export function errorTime(d: Date): string {
  return `[${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}000 ${d.getFullYear()}]`;
}

/** Quotes a request field the way mod_log_config does: `"` and `\` escaped, controls as \xhh. */
export function logEscape(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\\"\x00-\x1f\x7f-\xff]/g, (c) => (c === '"' ? '\\"' : c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

export class BufferedWriter {
  private chunks: string[] = [];
  private size = 0;
  private scheduled = false;

  constructor(private readonly fd: number, private readonly limit = 64 * 1024) {
    process.once('exit', () => this.flush());
  }

  write(line: string): void {
    this.chunks.push(line);
    this.size += line.length;
    if (this.size >= this.limit) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.chunks.length === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    try {
      writeSync(this.fd, text);
    } catch {
      // A closed stdout (EPIPE) must not take the server down.
    }
  }
}

export interface AccessEntry {
  client: string;
  method: string;
  target: string;
  httpVersion: string;
  status: number;
  bytes: number;
  referer: string | undefined;
  userAgent: string | undefined;
  time: Date;
}

export function accessLine(e: AccessEntry): string {
  const request = `${e.method} ${e.target} HTTP/${e.httpVersion}`;
  return `${e.client} - - ${clfTime(e.time)} "${logEscape(request)}" ${e.status} ${e.bytes > 0 ? e.bytes : '-'} "${logEscape(e.referer ?? '-')}" "${logEscape(e.userAgent ?? '-')}"\n`;
}

export function errorLine(d: Decision, client: string, port: number | undefined, time: Date): string {
  const level = d.status >= 500 || d.status === 403 ? 'error' : 'info';
  const masked = d.masked ? ` (answered 404: ${d.masked.by})` : '';
  return `${errorTime(time)} [keycard:${level}] [pid ${process.pid}] [client ${client}:${port ?? 0}] ${d.code} ${d.reason}: ${d.message.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}${masked}\n`;
}
