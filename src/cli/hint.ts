// One concrete line on how to change an outcome: the command or config edit that would flip it.
// Read by `explain` and by error pages when explainErrors is on.
import type { Config } from '../config/load.js';
import type { Decision } from '../decision.js';
import { REASONS } from '../reasons.js';
import { parseAddr } from '../policy/ip.js';
import { permissionClass, type Creds } from '../policy/perms.js';

function chmodFor(d: Decision, creds: Creds, bit: 'r' | 'x'): string {
  const ev = d.evidence;
  if (ev.fsPath === undefined) return REASONS[d.reason].hint;
  const cls = ev.uid !== undefined && ev.gid !== undefined && ev.mode !== undefined ? permissionClass({ mode: 0, uid: ev.uid, gid: ev.gid }, creds) : 'other';
  const who = cls === 'owner' ? 'u' : cls === 'group' ? 'g' : 'o';
  return `chmod ${who}+${bit} ${ev.fsPath}`;
}

function network(client: string | undefined): string {
  const addr = client ? parseAddr(client) : undefined;
  if (!addr) return 'the client address';
  if (addr.kind() === 'ipv4') {
    const o = addr.toByteArray();
    return `${o[0]}.${o[1]}.${o[2]}.0/24`;
  }
  const parts = addr.toNormalizedString().split(':').slice(0, 4);
  return `${parts.join(':')}::/64`;
}

export function hintFor(d: Decision, config: Config, creds: Creds): string {
  const ev = d.evidence;
  const masked = d.masked ? ` (the 403 is answered as 404 by ${d.masked.by})` : '';
  switch (d.reason) {
    case 'SEARCH_PERMISSION':
      return chmodFor(d, creds, 'x') + masked;
    case 'FILE_PERMISSION':
    case 'DIRECTORY_UNREADABLE':
      return chmodFor(d, creds, 'r') + masked;
    case 'IP_NOT_ALLOWED':
      return `add ${network(ev.client)} to ${ev.key ?? 'ip.allow'}${masked}`;
    case 'IP_DENIED':
      return `remove ${ev.cidr ?? 'the matching entry'} from ${ev.key ?? 'ip.deny'} (deny wins over allow)${masked}`;
    case 'RULE_DENIED':
      return `change ${ev.key ?? 'the rule'} from "deny", or narrow its path ${ev.glob ? JSON.stringify(ev.glob) : ''}${masked}`.replace(/\s+$/, '');
    case 'DOTFILE_DENIED':
    case 'DOTFILE_IGNORED':
      return `add a rule { "path": "${d.urlPath.replace(/\/[^/]*$/, '') || ''}/**", "dotfiles": "allow" } (now ${ev.key ?? 'dotfiles'})${masked}`;
    case 'DIRECTORY_NO_INDEX':
      return `add ${config.data.index[0] ?? 'index.html'} to ${ev.fsPath ?? 'the directory'}, or add a rule { "path": "${d.urlPath}**", "listing": true }${masked}`;
    case 'SYMLINK_DENIED':
      return `set symlinks to "inside-root" for this path, or replace the link ${ev.fsPath ?? ''} with the file${masked}`;
    case 'SYMLINK_OWNER_MISMATCH':
      return `chown -h to the target's owner: ${ev.fsPath ?? 'the link'}${masked}`;
    case 'SYMLINK_ESCAPES_ROOT':
      return `move ${ev.linkTarget ?? 'the target'} under ${config.root}, or add a rule with "symlinks": "follow" for ${d.urlPath}${masked}`;
    case 'SYMLINK_BROKEN':
      return `fix or remove the link ${ev.fsPath ?? ''}${masked}`;
    case 'NOT_FOUND':
      return ev.fsPath ? `create ${ev.fsPath}` : REASONS.NOT_FOUND.hint;
    default:
      return REASONS[d.reason].hint + masked;
  }
}
