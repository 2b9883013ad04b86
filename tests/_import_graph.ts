// Test helper: what a module reaches through static imports, from `deno info --json` (a dynamic
// import loads only when it runs, so it is not followed).
import assert from "node:assert/strict";

interface InfoModule {
  specifier: string;
  dependencies?: { specifier: string; isDynamic?: boolean; code?: { specifier: string } }[];
}

/** The static import graph of {@linkcode staticImports}. */
export interface StaticImports {
  /** Every module reached (the entry included), by its resolved specifier. */
  modules: string[];
  /** Every static import of those modules: the importer and the specifier as written. */
  imports: { from: string; specifier: string }[];
}

/**
 * The modules `entry` (a path) reaches through static imports, and their static imports. An
 * import whose specifier matches `stop` is listed but not followed.
 */
export async function staticImports(entry: string, stop?: RegExp): Promise<StaticImports> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
  }).output();
  assert.equal(info.code, 0);
  const graph = JSON.parse(new TextDecoder().decode(info.stdout));
  const byName = new Map((graph.modules as InfoModule[]).map((m) => [m.specifier, m]));
  const modules: string[] = [], imports: StaticImports["imports"] = [];
  const seen = new Set<string>();
  const todo = [graph.roots[0] as string];
  while (todo.length) {
    const m = byName.get(todo.pop()!);
    if (!m || seen.has(m.specifier)) continue;
    seen.add(m.specifier);
    modules.push(m.specifier);
    for (const d of m.dependencies ?? []) {
      if (d.isDynamic) continue;
      imports.push({ from: m.specifier, specifier: d.specifier });
      if (!stop?.test(d.specifier) && d.code) todo.push(d.code.specifier);
    }
  }
  return { modules, imports };
}
