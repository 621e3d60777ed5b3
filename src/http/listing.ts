// Gathering a directory listing: read the directory in batches (so 10,000 entries never block
// other requests for long), stat each entry, and filter it through the same policy the server
// applies, so a listing never shows what a request would hide, and marks what would be refused.
import * as fs from 'node:fs';
import type { Config } from '../config/load.js';
import { preflight } from '../policy/request.js';
import type { ListingEntry } from '../listing/autoindex.js';

const BATCH = 256;

export type ListingResult = { ok: true; entries: ListingEntry[] } | { ok: false; errno: string };

export interface ListingInput {
  config: Config;
  fsPath: string;
  /** Canonical URL path of the directory, ending in '/'. */
  urlPath: string;
  peer: string;
  forwardedFor: string | undefined;
}

function judgeEntry(inp: ListingInput, dirent: fs.Dirent): ListingEntry | undefined {
  const name = dirent.name;
  // The same preflight a click on the entry would meet: hidden and ignored entries are omitted.
  const childUrl = inp.urlPath + encodeURIComponent(name);
  const pre = preflight({ method: 'GET', target: childUrl, peer: inp.peer, forwardedFor: inp.forwardedFor }, inp.config);
  let denied = false;
  if (pre.done) {
    const d = pre.decision;
    if (d.masked || d.status === 404) return undefined;
    denied = d.status === 403;
  }
  const full = inp.fsPath + '/' + name;
  let st: fs.Stats;
  try {
    st = fs.statSync(full);
  } catch {
    try {
      st = fs.lstatSync(full);
    } catch {
      return undefined; // vanished while listing
    }
    denied = true; // dangling or unreachable link: a click will be refused
  }
  const isDir = st.isDirectory();
  if (!denied) {
    try {
      fs.accessSync(full, isDir ? fs.constants.X_OK : fs.constants.R_OK);
    } catch {
      denied = true;
    }
  }
  if (denied && inp.config.data.listingDenied === 'omit') return undefined;
  const entry: ListingEntry = { name, isDir, size: st.size, mtimeMs: st.mtimeMs };
  if (denied) entry.denied = true;
  return entry;
}

export async function gatherListing(inp: ListingInput): Promise<ListingResult> {
  let dir: fs.Dir;
  try {
    dir = await fs.promises.opendir(inp.fsPath, { bufferSize: BATCH });
  } catch (err) {
    return { ok: false, errno: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  }
  const entries: ListingEntry[] = [];
  try {
    let batch = 0;
    for await (const dirent of dir) {
      const e = judgeEntry(inp, dirent);
      if (e) entries.push(e);
      if (++batch === BATCH) {
        batch = 0;
        // Yield between batches so other requests are served while a large directory is read.
        await new Promise<void>((r) => setImmediate(r));
      }
    }
  } catch (err) {
    return { ok: false, errno: (err as NodeJS.ErrnoException).code ?? 'EIO' };
  }
  return { ok: true, entries };
}
