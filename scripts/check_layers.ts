// deno task check runs this: the import directions of src/ (see the README's layout rules).
// In mod.ts and src/ (comment lines skipped), it fails on
//   - an import of src/cli/ from outside src/cli/ (the commands call the library, never the
//     other way round);
//   - an import of a private `_*.ts` module from another folder (rename it without `_` if it
//     is shared), except the few listed in SHARED_PRIVATE that are still to be renamed;
//   - an import circle between the folders of src/ (src/a imports src/b, which imports src/a).
// Prints one line per violation and exits 1 when there is any.
//
//   deno run --allow-read scripts/check_layers.ts [root]

/** Private modules imported across folders until they are renamed (paths from the root). */
export const SHARED_PRIVATE: readonly string[] = [];

/** One relative import: where it is and what it names (a path from the root). */
interface Import {
  from: string;
  line: number;
  to: string;
}

const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+|^\s*export\s*\*\s*from\s*)["'](\.{1,2}\/[^"']+)["']/g;

async function* sourceFiles(path: string): AsyncGenerator<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return;
  }
  if (info.isFile) {
    if (/\.(ts|js|mjs)$/.test(path)) yield path;
    return;
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  for (const name of names.sort()) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    yield* sourceFiles(`${path}/${name}`);
  }
}

/** `a/b/../c.ts` → `a/c.ts` (paths relative to the root, `/`-separated). */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** The folder of src/ a file belongs to: `src/kmeans/x.ts` → `src/kmeans`, `src/x.ts` → `src`. */
function folderOf(path: string): string {
  const parts = path.split("/");
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Every relative import of mod.ts and src/ (comment lines skipped). */
async function imports(root: string): Promise<Import[]> {
  const out: Import[] = [];
  for (const top of ["mod.ts", "src"]) {
    for await (const file of sourceFiles(`${root}/${top}`)) {
      const rel = file.slice(root.length + 1);
      const lines = (await Deno.readTextFile(file)).split("\n");
      lines.forEach((text, i) => {
        const t = text.trim();
        if (t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return;
        for (const m of text.matchAll(SPECIFIER)) {
          out.push({ from: rel, line: i + 1, to: normalize(`${dirOf(rel)}/${m[1]}`) });
        }
      });
    }
  }
  return out;
}

/** The folder circles of a graph: each strongly connected set of two or more folders, sorted. */
function circles(edges: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], on = new Set<string>(), out: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    on.add(v);
    for (const w of [...(edges.get(v) ?? [])].sort()) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const set: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        set.push(w);
      } while (w !== v);
      if (set.length > 1) out.push(set.sort());
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return out.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/**
 * Every violation of the layer rules under `root`, as `path:line: message` (paths relative to
 * `root`); a folder circle is reported once, at the first import that closes it.
 */
export async function findLayerViolations(root: string): Promise<string[]> {
  const out: string[] = [];
  const all = await imports(root);
  const edges = new Map<string, Set<string>>();
  for (const imp of all) {
    if (!imp.to.startsWith("src/")) continue;
    const inCli = imp.from.startsWith("src/cli/");
    if (!inCli && imp.to.startsWith("src/cli/")) {
      out.push(
        `${imp.from}:${imp.line}: imports ${imp.to}: nothing outside src/cli/ imports src/cli/`,
      );
    }
    const name = imp.to.slice(imp.to.lastIndexOf("/") + 1);
    if (
      name.startsWith("_") && /\.ts$/.test(name) && dirOf(imp.to) !== dirOf(imp.from) &&
      !SHARED_PRIVATE.includes(imp.to)
    ) {
      out.push(
        `${imp.from}:${imp.line}: imports ${imp.to}, private to ${
          dirOf(imp.to)
        }/ (rename it without _ if it is shared)`,
      );
    }
    if (imp.from.startsWith("src/")) {
      const a = folderOf(imp.from), b = folderOf(imp.to);
      if (a !== b) {
        if (!edges.has(a)) edges.set(a, new Set());
        edges.get(a)!.add(b);
      }
    }
  }
  for (const set of circles(edges)) {
    const inside = all.filter((imp) =>
      imp.from.startsWith("src/") && imp.to.startsWith("src/") &&
      set.includes(folderOf(imp.from)) && set.includes(folderOf(imp.to)) &&
      folderOf(imp.from) !== folderOf(imp.to)
    );
    const pairs = [...new Set(inside.map((imp) => `${folderOf(imp.from)} → ${folderOf(imp.to)}`))];
    const first = inside[0]!;
    out.push(
      `${first.from}:${first.line}: import circle between the folders ${set.join(", ")} (${
        pairs.sort().join(", ")
      })`,
    );
  }
  return out;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const violations = await findLayerViolations(root);
  for (const v of violations) console.error(v);
  if (violations.length > 0) {
    console.error(`check_layers: ${violations.length} violation(s) of the import rules`);
    Deno.exit(1);
  }
}
