// Fixture trees built by the test itself: modes, owners and symlinks that git cannot carry.
// The root is world-traversable (mkdtemp makes 0700) so an unprivileged server can reach it,
// and cleanup restores modes first, since a 0000 directory would block its own removal.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';

export type Node =
  | string
  | { content?: string | Buffer; mode?: number; uid?: number }
  | { dir: Tree; mode?: number; uid?: number }
  | { symlink: string; uid?: number }
  | { fifo: true };
export interface Tree {
  [name: string]: Node;
}

export interface Fixture {
  /** The folder holding the tree (and anything outside the docroot). */
  base: string;
  path(...parts: string[]): string;
  cleanup(): void;
}

export const isRoot = process.getuid?.() === 0;
/** The unprivileged user the server runs as in tests when they run as root. */
export const SERVER_USER = isRoot ? 'nobody' : undefined;

function build(dir: string, tree: Tree, modes: [string, number][]): void {
  for (const [name, node] of Object.entries(tree)) {
    const p = path.join(dir, name);
    if (typeof node === 'string') fs.writeFileSync(p, node);
    else if ('dir' in node) {
      fs.mkdirSync(p);
      build(p, node.dir, modes);
      if (node.uid !== undefined && isRoot) fs.chownSync(p, node.uid, node.uid);
      if (node.mode !== undefined) modes.push([p, node.mode]);
    } else if ('symlink' in node) {
      fs.symlinkSync(node.symlink, p);
      if (node.uid !== undefined && isRoot) fs.lchownSync(p, node.uid, node.uid);
    } else if ('fifo' in node) {
      execFileSync('mkfifo', [p]);
    } else {
      fs.writeFileSync(p, node.content ?? '');
      if (node.uid !== undefined && isRoot) fs.chownSync(p, node.uid, node.uid);
      if (node.mode !== undefined) modes.push([p, node.mode]);
    }
  }
}

export function makeTree(tree: Tree): Fixture {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'keycard-test-'));
  fs.chmodSync(base, 0o755);
  const modes: [string, number][] = [];
  build(base, tree, modes);
  // Deepest first, so a directory's own mode never blocks setting the modes below it.
  modes.sort((a, b) => b[0].length - a[0].length);
  for (const [p, mode] of modes) fs.chmodSync(p, mode);
  return {
    base,
    path: (...parts) => path.join(base, ...parts),
    cleanup() {
      const open = (p: string): void => {
        let st: fs.Stats;
        try {
          st = fs.lstatSync(p);
        } catch {
          return;
        }
        if (st.isDirectory()) {
          fs.chmodSync(p, 0o755);
          for (const e of fs.readdirSync(p)) open(path.join(p, e));
        }
      };
      open(base);
      fs.rmSync(base, { recursive: true, force: true });
    },
  };
}
