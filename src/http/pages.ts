// Error and redirect pages, byte for byte in the frame of Apache httpd 2.4.68's canned pages
// (shared/APACHE.md §3), plus the JSON form for API clients. These pages say little on purpose:
// no filesystem path, errno or mode bits ever reaches a client; the error log and `explain`
// carry those.
import { REASONS, type ReasonName } from '../reasons.js';

const DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">';

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  204: 'No Content',
  301: 'Moved Permanently',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  412: 'Precondition Failed',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  416: 'Requested Range Not Satisfiable',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

function paragraph(status: number, method: string, location: string | undefined): string {
  switch (status) {
    case 301:
      return `<p>The document has moved <a href="${escapeHtml(location ?? '/')}">here</a>.</p>\n`;
    case 400:
      return '<p>Your browser sent a request that this server could not understand.<br />\n</p>\n';
    case 401:
      return "<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>\n";
    case 429:
      return '<p>The user has sent too many requests\nin a given amount of time.</p>\n';
    case 403:
      return "<p>You don't have permission to access this resource.</p>\n";
    case 404:
      return '<p>The requested URL was not found on this server.</p>\n';
    case 405:
      return `<p>The requested method ${escapeHtml(method)} is not allowed for this URL.</p>\n`;
    case 408:
      return '<p>Server timeout waiting for the HTTP request from the client.</p>\n';
    case 414:
      return "<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n</p>\n";
    case 431:
      return '<p>Your browser sent a request whose header fields exceed the limit of this server.</p>\n';
    case 501:
      return `<p>${escapeHtml(method)} not supported for current URL.<br />\n</p>\n`;
    case 503:
      return '<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n';
    default:
      return '<p>The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request.</p>\n<p>More information about this error may be available\nin the server error log.</p>\n';
  }
}

export interface PageOptions {
  status: number;
  method: string;
  /** The `<address>` line's content (already built by `addressLine`), or '' for none. */
  address: string;
  location?: string | undefined;
  /** Set when the configured error page for this status itself failed with that status. */
  errorDocumentFailed?: number | undefined;
  /** explainErrors: an extra paragraph with the reason (off by default). */
  extra?: string | undefined;
}

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
}

export function renderErrorPage(o: PageOptions): string {
  const text = STATUS_TEXT[o.status] ?? 'Error';
  let body = `${DOCTYPE}\n<html><head>\n<title>${o.status} ${text}</title>\n</head><body>\n<h1>${text}</h1>\n${paragraph(o.status, o.method, o.location)}`;
  if (o.extra) body += o.extra;
  if (o.errorDocumentFailed !== undefined) {
    body += `<p>Additionally, a ${statusLine(o.errorDocumentFailed)}\nerror was encountered while trying to use an ErrorDocument to handle the request.</p>\n`;
  }
  if (o.address) body += `<hr>\n<address>${o.address}</address>\n`;
  return body + '</body></html>\n';
}

/** Apache's ServerSignature On with UseCanonicalName Off: host and port from the Host header. */
export function addressLine(banner: string, hostHeader: string | undefined, fallbackHost: string, fallbackPort: number): string {
  let host = fallbackHost;
  let port = String(fallbackPort);
  if (hostHeader) {
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(hostHeader);
    if (m) {
      host = m[1]!;
      port = m[2] ? m[2] : '80';
    } else {
      host = hostHeader;
      port = '80';
    }
  }
  return `${escapeHtml(banner)} Server at ${escapeHtml(host)} Port ${escapeHtml(port)}`;
}

export function renderErrorJson(status: number, reason: ReasonName, extra?: Record<string, string>): string {
  const r = REASONS[reason];
  return JSON.stringify({ error: STATUS_TEXT[status] ?? 'Error', status, reason: r.code, name: r.name, message: r.summary, ...extra });
}

/** True when the client's Accept ranks application/json above text/html. */
export function prefersJson(accept: string | undefined): boolean {
  if (!accept || !accept.includes('json')) return false;
  let json = -1;
  let html = -1;
  let jsonSpec = -1;
  let htmlSpec = -1;
  for (const part of accept.split(',')) {
    const [rawType, ...params] = part.trim().toLowerCase().split(';');
    const type = rawType?.trim() ?? '';
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Math.min(1, Number(m[1]) || 0);
    }
    const spec = type === '*/*' ? 0 : type.endsWith('/*') ? 1 : 2;
    if ((type === 'application/json' || type === 'application/*' || type === '*/*' || type.endsWith('+json')) && spec >= jsonSpec) {
      if (spec > jsonSpec || q > json) [json, jsonSpec] = [q, spec];
    }
    if ((type === 'text/html' || type === 'text/*' || type === '*/*') && spec >= htmlSpec) {
      if (spec > htmlSpec || q > html) [html, htmlSpec] = [q, spec];
    }
  }
  return json > 0 && json > html;
}
