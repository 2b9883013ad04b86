// deno task check runs this: the import directions of src/ (see docs/architecture.md). In the
// entry points beside mod.ts and in src/ (comment lines skipped), it fails on
//   - an import of src/cli/ from outside src/cli/ (the commands call the library, never the
//     other way round);
//   - an import of a private `_*.ts` module from another folder (rename it without `_` if it
//     is shared);
//   - an import against the layer order LAYERS: a folder of src/ imports only the folders of
//     the layers below its own (a folder missing from LAYERS is reported too);
//   - an import circle between the folders of src/ (src/a imports src/b, which imports src/a);
//   - a picture of the layers in docs/architecture.md that differs from LAYERS.
// Prints one line per violation and exits 1 when there is any.
//
//   deno run --allow-read scripts/check_layers.ts [root]

import { sourceFiles } from "./_source_files.ts";

/**
 * The layers of src/, lowest first: a folder may import the folders of the layers below its
 * own, never a folder of its own layer or above. `src` stands for the files directly in src/.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["src", "src/options", "src/fs", "src/matrix", "src/random", "src/testing"],
  ["src/gpu"],
  ["src/topk", "src/model"],
  ["src/data", "src/loss", "src/ann", "src/ivf"],
  ["src/kmeans", "src/hf"],
  ["src/labels", "src/eval"],
  ["src/jobs"],
  ["src/train"],
  ["src/cli"],
];

/** The file that draws {@linkcode LAYERS}, between the two markers. */
export const PICTURE_FILE = "docs/architecture.md";
const BEGIN = "<!-- layers: drawn from LAYERS in scripts/check_layers.ts -->";
const END = "<!-- /layers -->";

/**
 * The picture of {@linkcode LAYERS} that docs/architecture.md holds: one line per layer, the
 * highest first, as a fenced block between the markers (blank lines around it, as `deno fmt`
 * writes Markdown).
 */
export function layerPicture(layers: readonly (readonly string[])[] = LAYERS): string {
  const name = (f: string) => f === "src" ? "src/*.ts" : f.slice("src/".length);
  const w = String(layers.length - 1).length; // no leading blanks: deno fmt would strip them
  const rows = layers.map((fs, i) => `${String(i).padEnd(w)} │ ${fs.map(name).join("  ")}`);
  return [
    BEGIN,
    "",
    "```",
    ...rows.reverse(),
    `${" ".repeat(w + 1)}└─ a folder imports only from the layers below its own`,
    "```",
    "",
    END,
  ].join("\n");
}

/**
 * Whether `root`'s docs/architecture.md draws {@linkcode LAYERS}: an empty list, or one line
 * saying what differs.
 */
export async function checkLayerPicture(root: string): Promise<string[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${root}/${PICTURE_FILE}`);
  } catch {
    return [`${PICTURE_FILE}: missing (it draws the layers of scripts/check_layers.ts)`];
  }
  const at = text.indexOf(BEGIN), end = text.indexOf(END, at);
  const drawn = at < 0 || end < 0 ? null : text.slice(at, end + END.length);
  if (drawn === layerPicture()) return [];
  const line = at < 0 ? 1 : text.slice(0, at).split("\n").length;
  return [
    `${PICTURE_FILE}:${line}: the picture of the layers differs from LAYERS in ` +
    `scripts/check_layers.ts; it should read:\n${layerPicture()}`,
  ];
}

/** One relative import: where it is and what it names (a path from the root). */
interface Import {
  from: string;
  line: number;
  to: string;
}

const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+|^\s*export\s*\*\s*from\s*)["'](\.{1,2}\/[^"']+)["']/g;

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

/** The entry points beside mod.ts: every `*.ts` file directly in `root`, sorted. */
async function entryPoints(root: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(root)) {
    if (e.isFile && e.name.endsWith(".ts")) out.push(e.name);
  }
  return out.sort();
}

/**
 * Every relative import of the entry points and src/ (comment lines skipped), and the folders
 * of src/ that hold a source file.
 */
async function scan(root: string): Promise<{ imports: Import[]; folders: Set<string> }> {
  const out: Import[] = [], folders = new Set<string>();
  for (const top of [...await entryPoints(root), "src"]) {
    for await (const file of sourceFiles(`${root}/${top}`)) {
      const rel = file.slice(root.length + 1);
      if (rel.startsWith("src/")) folders.add(folderOf(rel));
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
  return { imports: out, folders };
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
 * Every violation of the import rules under `root`, as `path:line: message` (paths relative to
 * `root`); a folder circle is reported once, at the first import that closes it, and a folder
 * missing from {@linkcode LAYERS} once, at its first file.
 */
export async function findLayerViolations(root: string): Promise<string[]> {
  const out: string[] = [];
  const { imports: all, folders } = await scan(root);
  const layer = new Map(LAYERS.flatMap((fs, i) => fs.map((f) => [f, i] as const)));
  for (const folder of [...folders].sort()) {
    if (layer.has(folder)) continue;
    const first = folder === "src" ? "src/" : `${folder}/`;
    out.push(
      `${first}: ${folder} is in no layer (add it to LAYERS in scripts/check_layers.ts and to ` +
        `${PICTURE_FILE})`,
    );
  }
  const edges = new Map<string, Set<string>>();
  for (const imp of all) {
    if (!imp.to.startsWith("src/")) continue;
    const inCli = imp.from.startsWith("src/cli/");
    const at = `${imp.from}:${imp.line}: imports ${imp.to}`;
    if (!inCli && imp.to.startsWith("src/cli/")) {
      out.push(`${at}: nothing outside src/cli/ imports src/cli/`);
    }
    const name = imp.to.slice(imp.to.lastIndexOf("/") + 1);
    if (name.startsWith("_") && /\.ts$/.test(name) && dirOf(imp.to) !== dirOf(imp.from)) {
      out.push(`${at}, private to ${dirOf(imp.to)}/ (rename it without _ if it is shared)`);
    }
    if (!imp.from.startsWith("src/")) continue;
    const a = folderOf(imp.from), b = folderOf(imp.to);
    if (a === b) continue;
    if (!edges.has(a)) edges.set(a, new Set());
    edges.get(a)!.add(b);
    const la = layer.get(a), lb = layer.get(b);
    if (la !== undefined && lb !== undefined && lb >= la && b !== "src/cli") {
      out.push(
        `${at}: ${a} (layer ${la}) imports only the layers below it, and ${b} is layer ${lb} ` +
          `(see ${PICTURE_FILE})`,
      );
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
  const violations = [...await findLayerViolations(root), ...await checkLayerPicture(root)];
  for (const v of violations) console.error(v);
  if (violations.length > 0) {
    console.error(`check_layers: ${violations.length} violation(s) of the import rules`);
    Deno.exit(1);
  }
}
