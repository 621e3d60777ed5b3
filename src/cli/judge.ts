// Who a CLI command judges permissions for, and with which probe. `--as USER` simulates that
// user from mode bits; without it, a root caller whose config names a `user` is answered for that
// user (what the server will drop to), and anyone else is answered by the kernel for themselves.
import * as os from 'node:os';
import type { Config } from '../config/load.js';
import { kernelProbe, modesProbe, type FsProbe } from '../fs/probe.js';
import type { Creds } from '../policy/perms.js';
import { currentCreds, lookupUser } from '../sys/users.js';
import { UsageError } from './args.js';

export interface Judge {
  probe: FsProbe;
  creds: Creds;
  /** For output: "nobody (uid 65534, gid 65534, groups 65534)" and how it was chosen. */
  label: string;
  simulated: boolean;
}

function userName(uid: number): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${uid}`;
  }
}

function describe(name: string, c: Creds): string {
  return `${name} (uid ${c.uid}, gid ${c.gid}, groups ${c.groups.join(',') || '-'})`;
}

export function chooseJudge(config: Config, as: string | undefined): Judge {
  const name = as ?? (process.getuid?.() === 0 ? config.data.user : undefined);
  if (name !== undefined) {
    const user = lookupUser(name);
    if (!user) throw new UsageError(`unknown user "${name}"`);
    const me = currentCreds();
    if (user.uid === me.uid && !as) return { probe: kernelProbe, creds: me, label: `${describe(name, me)}, by the kernel`, simulated: false };
    return { probe: modesProbe(user), creds: user, label: `${describe(name, user)}, from mode bits${as ? '' : ' (the config\'s "user")'}; POSIX ACLs and capabilities are not evaluated`, simulated: true };
  }
  const me = currentCreds();
  const who = me.uid === 0 ? 'root — root bypasses file permissions; pass --as USER or set "user"' : 'the current user';
  return { probe: kernelProbe, creds: me, label: `${describe(userName(me.uid), me)}, by the kernel (${who})`, simulated: false };
}
