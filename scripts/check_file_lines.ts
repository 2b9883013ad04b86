// deno task check runs this: no source file over MAX_LINES lines outside tests/ (split a long
// file by job, not by size). Source files are those ending in one of SOURCE_EXTENSIONS, under
// `root` but not under tests/, node_modules/, a dot-folder or the ignored run outputs (out/,
// runs/). Prints one line per file over the limit and exits 1 when there is any.
//
//   deno run --allow-read scripts/check_file_lines.ts [root]

/** The most lines a source file outside tests/ may have. */
export const MAX_LINES = 400;

/** What counts as a source file. */
export const SOURCE_EXTENSIONS: readonly string[] = [
  ".ts",
  ".js",
  ".mjs",
  ".wgsl",
  ".py",
  ".sh",
  ".sbatch",
];

/** Top-level folders that are not checked: tests are exempt; out/ and runs/ are run outputs. */
const SKIPPED = new Set(["tests", "node_modules", "out", "runs"]);

async function* sourceFiles(root: string, rel: string): AsyncGenerator<string> {
  const names: { name: string; dir: boolean }[] = [];
  for await (const e of Deno.readDir(rel ? `${root}/${rel}` : root)) {
    names.push({ name: e.name, dir: e.isDirectory });
  }
  names.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  for (const { name, dir } of names) {
    if (name.startsWith(".") || name === "node_modules" || (!rel && SKIPPED.has(name))) continue;
    const path = rel ? `${rel}/${name}` : name;
    if (dir) yield* sourceFiles(root, path);
    else if (SOURCE_EXTENSIONS.some((ext) => name.endsWith(ext))) yield path;
  }
}

/** Lines of a text: newline-separated, a final newline not starting another line. */
function countLines(text: string): number {
  if (text === "") return 0;
  const n = text.split("\n").length;
  return text.endsWith("\n") ? n - 1 : n;
}

/**
 * Every source file under `root` (tests/ excepted) with more than `max` lines, as
 * `path: N lines (at most max outside tests/; split it by job)`, paths relative to `root`.
 */
export async function findLongFiles(root: string, max: number = MAX_LINES): Promise<string[]> {
  const out: string[] = [];
  for await (const path of sourceFiles(root, "")) {
    const lines = countLines(await Deno.readTextFile(`${root}/${path}`));
    if (lines > max) {
      out.push(`${path}: ${lines} lines (at most ${max} outside tests/; split it by job)`);
    }
  }
  return out;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const long = await findLongFiles(root);
  for (const v of long) console.error(`check_file_lines: ${v}`);
  if (long.length > 0) Deno.exit(1);
}
