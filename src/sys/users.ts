// Users and groups by name, through the system's own `id` (so NSS sources such as LDAP work
// as they do for every other daemon), and the privilege drop itself.
import { execFileSync } from 'node:child_process';
import type { Creds } from '../policy/perms.js';

export interface UserInfo extends Creds {
  name: string;
}

function idOf(args: string[]): string {
  return execFileSync('id', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function lookupUser(name: string): UserInfo | undefined {
  try {
    const uid = Number(idOf(['-u', name]));
    const gid = Number(idOf(['-g', name]));
    const groups = idOf(['-G', name]).split(/\s+/).filter(Boolean).map(Number);
    return { name, uid, gid, groups };
  } catch {
    return undefined;
  }
}

export function lookupGroup(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    const out = execFileSync('getent', ['group', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const gid = Number(out.split(':')[2]);
    return Number.isInteger(gid) ? gid : undefined;
  } catch {
    return undefined;
  }
}

export function currentCreds(): Creds {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, groups: process.getgroups?.() ?? [] };
}

/**
 * Drops root to `user` (and `group`, else the user's primary group), supplementary groups
 * included, in the only safe order: groups, then gid, then uid. Throws with one clear line.
 */
export function dropPrivileges(user: string, group: string | undefined): UserInfo {
  const info = lookupUser(user);
  if (!info) throw new Error(`unknown user "${user}"`);
  let gid = info.gid;
  if (group !== undefined) {
    const g = lookupGroup(group);
    if (g === undefined) throw new Error(`unknown group "${group}"`);
    gid = g;
  }
  if (process.getuid?.() !== 0) {
    if (process.getuid?.() === info.uid) return info;
    throw new Error(`cannot switch to user "${user}": keycard was not started as root`);
  }
  (process as unknown as { initgroups(user: string, extraGroup: number): void }).initgroups(user, gid);
  process.setgid!(gid);
  process.setuid!(info.uid);
  return { ...info, gid, groups: process.getgroups?.() ?? info.groups };
}
