// The one registry of reason codes. Every refusal, redirect and failure keycard can produce is
// named here, once: the response, the error log, `explain` and `audit` all print these codes.
//
// Codes follow Apache's tag discipline: a code is never reused or renumbered; a new code is
// added when the cause changes, not when the wording does. The hundreds digit is the pipeline
// stage, so a code tells you where to look:
//   KC1xx request line and URL    KC2xx client address    KC3xx configuration rules
//   KC4xx filesystem and symlinks KC5xx directories        KC9xx internal

export interface Reason {
  readonly code: string;
  readonly name: string;
  readonly status: number;
  /** One sentence for operators: what happened. */
  readonly summary: string;
  /** How to change the outcome, in general terms; `explain` makes it concrete. */
  readonly hint: string;
  /** The Apache httpd 2.4 log tag for the same cause, if there is one. */
  readonly apache?: string;
}

function reason(code: string, name: string, status: number, summary: string, hint: string, apache?: string): Reason {
  return Object.freeze(apache === undefined ? { code, name, status, summary, hint } : { code, name, status, summary, hint, apache });
}

export const REASONS = Object.freeze({
  OK: reason('KC000', 'OK', 200, 'The resource was served.', ''),
  OPTIONS: reason('KC001', 'OPTIONS', 200, 'OPTIONS answered with the allowed methods.', ''),

  CORS_PREFLIGHT: reason('KC002', 'CORS_PREFLIGHT', 204, 'A CORS preflight was answered: origin, method and headers are allowed.', ''),

  BAD_ESCAPE: reason('KC100', 'BAD_ESCAPE', 400, 'The URL path has a malformed percent-escape.', 'Escape "%" as %25 in the URL.', 'AH10244'),
  PATH_ABOVE_ROOT: reason('KC101', 'PATH_ABOVE_ROOT', 400, 'A ".." segment climbs above the document root.', 'Remove the ".." segments from the URL.', 'AH10244'),
  ENCODED_SLASH: reason('KC102', 'ENCODED_SLASH', 404, 'The URL path contains an encoded "/" (%2F) or NUL (%00).', 'Use a literal "/" between segments; names cannot contain "/" or NUL.', 'AH00026'),
  BAD_REQUEST_TARGET: reason('KC103', 'BAD_REQUEST_TARGET', 400, 'The request target is not an absolute path.', 'Send a request target that starts with "/".'),
  METHOD_NOT_ALLOWED: reason('KC104', 'METHOD_NOT_ALLOWED', 405, 'A static file server only answers GET, HEAD and OPTIONS.', 'Use GET or HEAD.'),
  METHOD_NOT_IMPLEMENTED: reason('KC105', 'METHOD_NOT_IMPLEMENTED', 501, 'The request method is not one keycard knows.', 'Use GET or HEAD.', 'AH00135'),
  URI_TOO_LONG: reason('KC107', 'URI_TOO_LONG', 414, 'The request target is longer than the server accepts.', 'Use a shorter URL.', 'AH00565'),
  NOT_UTF8: reason('KC106', 'NOT_UTF8', 404, 'The decoded URL path is not valid UTF-8, so it cannot name a file.', 'Percent-encode file names as UTF-8.'),

  IP_DENIED: reason('KC200', 'IP_DENIED', 403, 'The client address matches ip.deny.', 'Remove the address from ip.deny (deny always wins over allow).', 'AH01630'),
  IP_NOT_ALLOWED: reason('KC201', 'IP_NOT_ALLOWED', 403, 'ip.allow is set and the client address matches none of it.', 'Add the client address or its network to ip.allow.', 'AH01630'),

  BANNED: reason('KC202', 'BANNED', 403, 'The client address is suspended in the bans file.', 'Remove the address from the bans file, or wait for its expiry.', 'AH01630'),
  AUTH_REQUIRED: reason('KC210', 'AUTH_REQUIRED', 401, 'The path requires authentication and the request carried no Basic credentials.', 'Send credentials (Authorization: Basic).', 'AH01614'),
  AUTH_FAILED: reason('KC211', 'AUTH_FAILED', 401, 'The user name or password is wrong.', 'Check the user and password against the rule\'s password file.', 'AH01617'),
  AUTH_FORBIDDEN: reason('KC212', 'AUTH_FORBIDDEN', 403, 'The user is authenticated, but the rule\'s require list does not admit them.', 'Add the user, or a group they are in, to the rule\'s auth.require.', 'AH01630'),
  AUTH_RATE_LIMITED: reason('KC213', 'AUTH_RATE_LIMITED', 429, 'Too many failed logins from this address; try again later.', 'Wait for Retry-After seconds.'),

  RULE_DENIED: reason('KC300', 'RULE_DENIED', 403, 'A path rule denies access.', 'Change or remove the rule with access: "deny".', 'AH01630'),
  DOTFILE_DENIED: reason('KC301', 'DOTFILE_DENIED', 403, 'A path segment starts with "." and dotfiles is "deny".', 'Set dotfiles to "allow" for this path (a rule), or rename the file.', 'AH01630'),
  DOTFILE_IGNORED: reason('KC302', 'DOTFILE_IGNORED', 404, 'A path segment starts with "." and dotfiles is "ignore".', 'Set dotfiles to "allow" for this path (a rule), or rename the file.'),

  FILTER_METHOD: reason('KC310', 'FILTER_METHOD', 403, 'A request filter refuses this method.', 'Change the rule\'s filter.methods.'),
  FILTER_USER_AGENT: reason('KC311', 'FILTER_USER_AGENT', 403, 'A request filter refuses this User-Agent.', 'Change the rule\'s filter.userAgents.'),
  FILTER_HEADER: reason('KC312', 'FILTER_HEADER', 403, 'A request filter refuses a header of this request.', 'Change the rule\'s filter.headers.'),
  FILTER_QUERY: reason('KC313', 'FILTER_QUERY', 403, 'A request filter refuses this query string.', 'Change the rule\'s filter.query.'),
  CORS_DENIED: reason('KC320', 'CORS_DENIED', 403, 'A CORS preflight asked for an origin, method or header the rule does not allow.', 'Add it to the rule\'s cors.origins, cors.methods or cors.headers.'),

  HTACCESS_DENIED: reason('KC330', 'HTACCESS_DENIED', 403, 'An .htaccess file (Require, or Order/Allow/Deny) refuses the client.', 'Edit the Require or Allow/Deny lines of the .htaccess named in the log.', 'AH01630'),
  HTACCESS_FILE: reason('KC331', 'HTACCESS_FILE', 403, 'Files named .ht* (.htaccess, .htpasswd) are never served while htaccess is on.', 'Keep .ht* files out of reach; they configure the server.', 'AH01630'),
  HTACCESS_UNREADABLE: reason('KC332', 'HTACCESS_UNREADABLE', 403, 'An .htaccess file on the path cannot be read by the server.', 'Make the .htaccess readable (chmod o+r) and its directory searchable (chmod o+x).', 'AH00529'),

  NOT_FOUND: reason('KC400', 'NOT_FOUND', 404, 'No file or directory exists at the mapped path.', 'Check the URL, or create the file.', 'AH00128'),
  SEARCH_PERMISSION: reason('KC401', 'SEARCH_PERMISSION', 403, 'A directory on the path lacks search (x) permission for the server.', 'Grant search permission on the directory (chmod o+x, or a group the server is in).', 'AH00035'),
  FILE_PERMISSION: reason('KC402', 'FILE_PERMISSION', 403, 'The server cannot read the file.', 'Grant read permission on the file (chmod o+r, or a group the server is in).', 'AH00132'),
  SYMLINK_DENIED: reason('KC403', 'SYMLINK_DENIED', 403, 'The path goes through a symbolic link and symlinks is "deny".', 'Set symlinks to "inside-root" or "follow", or replace the link with the file.', 'AH00037'),
  SYMLINK_OWNER_MISMATCH: reason('KC404', 'SYMLINK_OWNER_MISMATCH', 403, 'A symbolic link and its target have different owners and symlinks is "owner-match".', 'Give the link and its target the same owner (chown -h), or relax symlinks.', 'AH00037'),
  SYMLINK_ESCAPES_ROOT: reason('KC405', 'SYMLINK_ESCAPES_ROOT', 403, 'A symbolic link resolves outside the document root and symlinks is "inside-root".', 'Move the target under the root, or set symlinks to "follow" for this path.', 'AH00037'),
  SYMLINK_BROKEN: reason('KC406', 'SYMLINK_BROKEN', 403, 'A symbolic link on the path is dangling or loops.', 'Fix or remove the link.', 'AH00037'),
  PATH_INFO: reason('KC407', 'PATH_INFO', 404, 'The path continues below a file that is not a directory.', 'Remove the part of the URL after the file name.', 'AH00130'),
  NOT_REGULAR_FILE: reason('KC408', 'NOT_REGULAR_FILE', 403, 'The path names a device, FIFO or socket, which keycard never serves.', 'Serve regular files only.'),

  DIRECTORY_REDIRECT: reason('KC500', 'DIRECTORY_REDIRECT', 301, 'A directory was requested without its trailing slash.', ''),
  DIRECTORY_NO_INDEX: reason('KC501', 'DIRECTORY_NO_INDEX', 403, 'The directory has no index file and listing is off.', 'Add an index file, or turn listing on for this path.', 'AH01276'),
  DIRECTORY_UNREADABLE: reason('KC502', 'DIRECTORY_UNREADABLE', 403, 'Listing is on but the server cannot read the directory.', 'Grant read permission on the directory (chmod o+r), or add an index file.', 'AH01275'),
  LISTING: reason('KC503', 'LISTING', 200, 'The directory was listed.', ''),

  INTERNAL: reason('KC900', 'INTERNAL', 500, 'An unexpected filesystem error.', 'See the error log for the errno.'),
  HTACCESS_ERROR: reason('KC902', 'HTACCESS_ERROR', 500, 'An .htaccess file on the path has a syntax error, so the directory is refused as Apache does.', 'Fix the line the error log names.', 'AH00526'),
  RESOURCES_EXHAUSTED: reason('KC901', 'RESOURCES_EXHAUSTED', 503, 'The server ran out of file descriptors.', 'Raise the open-file limit (ulimit -n) or lower the load; it recovers by itself.'),
});

export type ReasonName = keyof typeof REASONS;

const byCode = new Map(Object.values(REASONS).map((r) => [r.code, r] as const));
export function reasonByCode(code: string): Reason | undefined {
  return byCode.get(code);
}
