// deno task check runs this: no source file over MAX_LINES lines outside tests/ (split a long
// file by job, not by size). Source files are those ending in one of SOURCE_EXTENSIONS, under
// `root` but not under tests/, node_modules/, a dot-folder or the ignored run outputs (out/,
// runs/). Prints one line per file over the limit and exits 1 when there is any.
//
//   deno run --allow-read scripts/check_file_lines.ts [root]

import { sourceFiles } from "./_source_files.ts";

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

/** The source files under `root`, paths relative to it, sorted; tests/ and the rest skipped. */
async function* checkedFiles(root: string): AsyncGenerator<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(root)) names.push(e.name);
  for (const name of names.sort()) {
    if (name.startsWith(".") || SKIPPED.has(name)) continue;
    for await (const file of sourceFiles(`${root}/${name}`, SOURCE_EXTENSIONS)) {
      yield file.slice(root.length + 1);
    }
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
  for await (const path of checkedFiles(root)) {
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
