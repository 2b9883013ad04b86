// The library's entry points (deno.json "exports") and the npm packages each one costs: the
// packages reachable from it through static imports, through dynamic imports whose specifier
// is a string literal (Deno fetches those before the program runs, even when they never run)
// and through type imports (deno check and deno cache fetch those). The README's Library table
// lists the same sets.
import assert from "node:assert/strict";
import type * as Arrow from "../src/data/arrow.ts";
import type { ArrowModule } from "../src/data/load_arrow.ts";
import type * as Parquet from "../src/data/parquet.ts";
import type { ParquetModule } from "../src/data/load_parquet.ts";

// The core loads arrow.ts by a specifier in a variable and declares its types itself: arrow.ts
// must match them (a compile-time check).
const _arrowMatches: (m: typeof Arrow) => ArrowModule = (m) => m;
// Likewise parquet.ts and load_parquet.ts's ParquetModule.
const _parquetMatches: (m: typeof Parquet) => ParquetModule = (m) => m;

const ROOT = new URL("../", import.meta.url);

/** Entry point → the npm packages (without versions) it may reach. */
const COST: Record<string, string[]> = {
  ".": [],
  "./data": ["apache-arrow"],
  "./eval": [],
  "./model": ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-webgpu"],
  "./train": ["@tensorflow/tfjs", "@tensorflow/tfjs-backend-webgpu", "sharp", "tar-stream"],
  "./images": ["sharp", "tar-stream"],
  "./report": ["vega", "vega-lite"],
  "./ann": ["hnswlib-node"],
  "./mnist": ["mnist"],
  "./parquet": ["apache-arrow", "parquet-wasm"],
};

interface InfoDependency {
  specifier: string;
  isDynamic?: boolean;
  code?: { specifier: string };
  type?: { specifier: string };
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

/** The npm packages `entry` reaches, each with the chain of modules that leads to it. */
async function npmReach(entry: string): Promise<Map<string, string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const from = new Map<string, string | null>(info.roots.map((r) => [r, null]));
  const found = new Map<string, string>();
  const chain = (s: string) => {
    const names: string[] = [];
    for (let at: string | null = s; at; at = from.get(at) ?? null) {
      names.push(at.replace(ROOT.href, ""));
    }
    return names.reverse().join(" → ");
  };
  const queue = [...info.roots];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const dep of modules.get(s)?.dependencies ?? []) {
      for (const target of [dep.code?.specifier, dep.type?.specifier]) {
        if (!target) continue;
        const npm = dep.specifier.match(/^npm:(@?[^@]+)/)?.[1] ??
          target.match(/\/node_modules\/\.deno\/[^/]+\/node_modules\/(@[^/]+\/[^/]+|[^/]+)/)?.[1];
        if (npm) {
          if (!found.has(npm)) found.set(npm, `${chain(s)} → npm:${npm}`);
          continue;
        }
        if (!from.has(target)) {
          from.set(target, s);
          queue.push(target);
        }
      }
    }
  }
  return found;
}

Deno.test("deno.json exports every entry point the npm cost table lists", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.deepEqual(Object.keys(config.exports).sort(), Object.keys(COST).sort());
});

for (const [entry, want] of Object.entries(COST)) {
  Deno.test(`entry point ${entry} reaches exactly the npm packages ${JSON.stringify(want)}`, async () => {
    const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
    const reach = await npmReach(config.exports[entry]);
    assert.deepEqual(
      [...reach.keys()].sort(),
      [...want].sort(),
      `npm packages reached from ${entry}:\n${[...reach.values()].join("\n")}`,
    );
  });
}
