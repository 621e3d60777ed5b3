// POSIX permission evaluation from mode bits and credentials, the way the kernel does it for
// plain files without ACLs: owner class, else group class, else other; root may read anything
// and search any directory. Used to explain a refusal, and by `explain --as` to answer for a
// user keycard is not running as. POSIX ACLs and capabilities are not evaluated.

export interface Creds {
  uid: number;
  gid: number;
  /** Supplementary groups; the primary gid may or may not be listed. */
  groups: readonly number[];
}

export interface ModeFacts {
  mode: number;
  uid: number;
  gid: number;
}

export const R = 4;
export const W = 2;
export const X = 1;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;

export function permissionClass(st: ModeFacts, who: Creds): 'owner' | 'group' | 'other' {
  if (st.uid === who.uid) return 'owner';
  if (st.gid === who.gid || who.groups.includes(st.gid)) return 'group';
  return 'other';
}

export function mayAccess(st: ModeFacts, who: Creds, want: number): boolean {
  if (who.uid === 0) {
    // CAP_DAC_OVERRIDE: everything but executing a file with no x bit at all.
    if (want & X && (st.mode & S_IFMT) !== S_IFDIR) return (st.mode & 0o111) !== 0;
    return true;
  }
  const cls = permissionClass(st, who);
  const shift = cls === 'owner' ? 6 : cls === 'group' ? 3 : 0;
  return (((st.mode >> shift) & 7) & want) === want;
}

export function formatMode(mode: number): string {
  const type = (mode & S_IFMT) === S_IFDIR ? 'd' : (mode & S_IFMT) === 0o120000 ? 'l' : '-';
  let out = type;
  for (const shift of [6, 3, 0]) {
    const bits = (mode >> shift) & 7;
    out += (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? 'x' : '-');
  }
  return `${out} (${(mode & 0o7777).toString(8).padStart(4, '0')})`;
}
