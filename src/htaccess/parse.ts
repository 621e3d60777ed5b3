// A parser for the subset of Apache's per-directory configuration (.htaccess) that decides
// access and listing. Pure: text in, a Directives value out, with every directive outside the
// subset reported (file and line) rather than silently dropped, and syntax errors collected —
// Apache answers 500 for a directory whose .htaccess it cannot parse, and so does keycard.

export type Authz =
  | { kind: 'all'; granted: boolean }
  | { kind: 'ip'; cidrs: string[]; negate: boolean }
  | { kind: 'valid-user'; negate: boolean }
  | { kind: 'user' | 'group'; names: string[]; negate: boolean }
  | { kind: 'container'; op: 'all' | 'any' | 'none'; children: Authz[] };

export interface Legacy {
  order?: 'allow,deny' | 'deny,allow' | 'mutual-failure';
  allow: string[];
  deny: string[];
  satisfy?: 'any' | 'all';
}

export interface Directives {
  /** Require lines at the top level form an implicit <RequireAny>. Undefined: none here (inherit). */
  require?: Authz[];
  legacy?: Legacy;
  /** Options edits in order: `+Indexes`, `-FollowSymLinks`, or a bare list (which replaces). */
  options?: { replace: boolean; set: Record<string, boolean> }[];
  directoryIndex?: string[];
  errorDocuments: Record<string, { path: string } | { text: string }>;
  auth: { type?: string | undefined; name?: string | undefined; userFile?: string | undefined; groupFile?: string | undefined };
  files: { match: { glob: string } | { regex: string }; directives: Directives }[];
}

export interface Issue {
  line: number;
  message: string;
}

export interface Parsed {
  file: string;
  directives: Directives;
  /** Directives outside the subset: reported by `check` and `audit`, otherwise ignored. */
  ignored: Issue[];
  /** Syntax errors: the directory answers 500 while they stand. */
  errors: Issue[];
}

const KNOWN_OPTIONS = new Set(['indexes', 'followsymlinks', 'symlinksifownermatch', 'all', 'none', 'execcgi', 'includes', 'includesnoexec', 'multiviews']);

function empty(): Directives {
  return { errorDocuments: {}, auth: {}, files: [] };
}

/** Splits a directive line into words: double-quoted strings keep their spaces. */
export function words(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length) break;
    if (line[i] === '"') {
      let j = i + 1;
      let w = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) j++;
        w += line[j++];
      }
      if (j >= line.length) return undefined; // unterminated quote
      out.push(w);
      i = j + 1;
    } else {
      let j = i;
      while (j < line.length && !/\s/.test(line[j]!)) j++;
      out.push(line.slice(i, j));
      i = j;
    }
  }
  return out;
}

function parseRequire(args: string[], line: number, errors: Issue[]): Authz | undefined {
  let negate = false;
  let a = args;
  if (a[0]?.toLowerCase() === 'not') {
    negate = true;
    a = a.slice(1);
  }
  const kind = a[0]?.toLowerCase();
  const rest = a.slice(1);
  switch (kind) {
    case 'all':
      if (negate || rest.length !== 1 || !/^(granted|denied)$/i.test(rest[0]!)) break;
      return { kind: 'all', granted: rest[0]!.toLowerCase() === 'granted' };
    case 'ip':
      if (rest.length === 0) break;
      return { kind: 'ip', cidrs: rest, negate };
    case 'valid-user':
      return { kind: 'valid-user', negate };
    case 'user':
    case 'group':
      if (rest.length === 0) break;
      return { kind, names: rest, negate };
  }
  errors.push({ line, message: `Require ${args.join(' ')}: expected "all granted|denied", "[not] ip ADDR…", "valid-user", "user NAME…" or "group NAME…"` });
  return undefined;
}

export function parseHtaccess(file: string, text: string): Parsed {
  const ignored: Issue[] = [];
  const errors: Issue[] = [];
  const root = empty();
  // A stack of open sections: directives go to the innermost.
  type Frame = { tag: string; line: number; directives: Directives; authz?: Authz[] };
  const stack: Frame[] = [{ tag: '', line: 0, directives: root }];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let raw = lines[n]!;
    const lineNo = n + 1;
    // Continuation lines end in a backslash.
    while (raw.endsWith('\\') && n + 1 < lines.length) raw = raw.slice(0, -1) + ' ' + lines[++n]!;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const frame = stack[stack.length - 1]!;
    const d = frame.directives;

    if (line.startsWith('</')) {
      const tag = line.slice(2).replace(/>$/, '').trim().toLowerCase();
      if (stack.length === 1 || frame.tag !== tag) {
        errors.push({ line: lineNo, message: `</${tag}> without matching <${tag}> section` });
        continue;
      }
      stack.pop();
      const parent = stack[stack.length - 1]!;
      if (tag.startsWith('require')) {
        const op = tag === 'requireall' ? 'all' : tag === 'requireany' ? 'any' : 'none';
        const node: Authz = { kind: 'container', op, children: frame.authz ?? [] };
        if (parent.authz) parent.authz.push(node);
        else (parent.directives.require ??= []).push(node);
      }
      continue;
    }
    if (line.startsWith('<')) {
      if (!line.endsWith('>')) {
        errors.push({ line: lineNo, message: `section opening "${line}" does not end with ">"` });
        continue;
      }
      const w = words(line.slice(1, -1));
      const tag = w?.[0]?.toLowerCase() ?? '';
      if (tag === 'requireall' || tag === 'requireany' || tag === 'requirenone') {
        stack.push({ tag, line: lineNo, directives: d, authz: [] });
      } else if (tag === 'files' || tag === 'filesmatch') {
        if (!w || w.length !== 2) {
          errors.push({ line: lineNo, message: `<${w?.[0] ?? tag}> takes one argument` });
          stack.push({ tag, line: lineNo, directives: empty() });
          continue;
        }
        const sub = empty();
        const arg = w[1]!;
        if (tag === 'filesmatch') {
          try {
            new RegExp(arg);
          } catch {
            errors.push({ line: lineNo, message: `<FilesMatch ${arg}>: not a valid regular expression` });
          }
          d.files.push({ match: { regex: arg }, directives: sub });
        } else if (arg.startsWith('~')) d.files.push({ match: { regex: w[2] ?? arg.slice(1).trim() }, directives: sub });
        else d.files.push({ match: { glob: arg }, directives: sub });
        stack.push({ tag, line: lineNo, directives: sub });
      } else {
        // An unknown section: its whole body is ignored, nested sections included.
        ignored.push({ line: lineNo, message: `<${w?.[0] ?? tag}> section (outside keycard's subset) and everything in it` });
        let depth = 1;
        while (depth > 0 && n + 1 < lines.length) {
          const l = lines[++n]!.trim();
          if (l.startsWith('</')) depth--;
          else if (l.startsWith('<')) depth++;
        }
        if (depth > 0) errors.push({ line: lineNo, message: `<${w?.[0] ?? tag}> section is not closed` });
      }
      continue;
    }

    const w = words(line);
    if (!w) {
      errors.push({ line: lineNo, message: 'unterminated quoted string' });
      continue;
    }
    const name = w[0]!.toLowerCase();
    const args = w.slice(1);
    switch (name) {
      case 'require': {
        const r = parseRequire(args, lineNo, errors);
        if (r) {
          if (frame.authz) frame.authz.push(r);
          else (d.require ??= []).push(r);
        }
        break;
      }
      case 'order': {
        const v = args.join('').toLowerCase();
        if (v !== 'allow,deny' && v !== 'deny,allow' && v !== 'mutual-failure') errors.push({ line: lineNo, message: `Order ${args.join(' ')}: expected allow,deny or deny,allow` });
        else (d.legacy ??= { allow: [], deny: [] }).order = v;
        break;
      }
      case 'allow':
      case 'deny': {
        if (args[0]?.toLowerCase() !== 'from' || args.length < 2) {
          errors.push({ line: lineNo, message: `${w[0]} takes "from" and a list of hosts` });
          break;
        }
        const hosts = args.slice(1);
        d.legacy ??= { allow: [], deny: [] };
        d.legacy[name].push(...hosts);
        break;
      }
      case 'satisfy': {
        const v = args[0]?.toLowerCase();
        if (args.length !== 1 || (v !== 'any' && v !== 'all')) errors.push({ line: lineNo, message: 'Satisfy takes Any or All' });
        else (d.legacy ??= { allow: [], deny: [] }).satisfy = v;
        break;
      }
      case 'options': {
        const set: Record<string, boolean> = {};
        const signed = args.every((a) => a.startsWith('+') || a.startsWith('-'));
        const bare = args.every((a) => !a.startsWith('+') && !a.startsWith('-'));
        if (args.length === 0 || (!signed && !bare)) {
          errors.push({ line: lineNo, message: 'Options: either all options take +/- or none do' });
          break;
        }
        let bad = false;
        for (const a of args) {
          const opt = (signed ? a.slice(1) : a).toLowerCase();
          if (!KNOWN_OPTIONS.has(opt)) {
            errors.push({ line: lineNo, message: `Options: unknown option ${a}` });
            bad = true;
            continue;
          }
          set[opt] = !a.startsWith('-');
        }
        if (!bad) (d.options ??= []).push({ replace: bare, set });
        break;
      }
      case 'directoryindex':
        if (args.length === 0) errors.push({ line: lineNo, message: 'DirectoryIndex takes at least one file name' });
        else d.directoryIndex = args.some((a) => a.toLowerCase() === 'disabled') ? [] : args;
        break;
      case 'errordocument': {
        const code = args[0];
        if (args.length !== 2 || !/^[45]\d\d$/.test(code ?? '')) {
          errors.push({ line: lineNo, message: 'ErrorDocument takes a status and a local path or a quoted text' });
          break;
        }
        const target = args[1]!;
        // Apache: a quoted argument (or one that is not a path or URL) is text.
        const quoted = /"\s*$/.test(raw);
        d.errorDocuments[code!] = !quoted && target.startsWith('/') ? { path: target } : { text: target };
        break;
      }
      case 'authtype':
        d.auth.type = args[0];
        if (args[0]?.toLowerCase() !== 'basic') ignored.push({ line: lineNo, message: `AuthType ${args[0] ?? ''}: only Basic is supported` });
        break;
      case 'authname':
        if (args.length !== 1) errors.push({ line: lineNo, message: 'AuthName takes one (quoted) realm' });
        else d.auth.name = args[0];
        break;
      case 'authuserfile':
        if (args.length !== 1) errors.push({ line: lineNo, message: 'AuthUserFile takes one file name' });
        else d.auth.userFile = args[0];
        break;
      case 'authgroupfile':
        if (args.length !== 1) errors.push({ line: lineNo, message: 'AuthGroupFile takes one file name' });
        else d.auth.groupFile = args[0];
        break;
      default:
        ignored.push({ line: lineNo, message: `${w[0]} (outside keycard's subset)` });
    }
  }
  for (const f of stack.slice(1)) errors.push({ line: f.line, message: `<${f.tag}> section is not closed` });
  return { file, directives: root, ignored, errors };
}
