// deno task check runs this: GPU plumbing stays in src/gpu/. Outside it, no code may
//   - call `queue.submit` directly (use `submit()` from src/gpu/program.ts, which frees the
//     per-dispatch uniform buffers and closes profiling), or
//   - test the adapter with `isCpuAdapter` / `isFallbackAdapter` (read `gpu.quirks`).
// Nowhere, src/gpu/ included, may a program's uniforms be packed by hand into a typed array
// (`uniforms: new Uint32Array(...)`): declare them with `uniformStruct()` (src/gpu/uniforms.ts)
// and pass its `pack()`, so the layout is computed and checked against the WGSL struct.
// Benches and examples use the public API: they may not import a private `_*.ts` module.
// Scans mod.ts, src/, tests/, bench/ and examples/ (comment lines are skipped). Prints one
// line per violation and exits 1 when there is any.
//
//   deno run --allow-read scripts/check_gpu_rules.ts [root]

import { sourceFiles } from "./_source_files.ts";

/**
 * One rule: what may not appear (outside src/gpu/, unless `everywhere`; only under the `only`
 * folders when given), and why.
 */
const RULES: { pattern: RegExp; message: string; everywhere?: boolean; only?: string[] }[] = [
  {
    pattern: /\bqueue\s*\.\s*submit\s*\(/,
    message: "raw queue.submit outside src/gpu/ (use submit() from src/gpu/program.ts)",
  },
  {
    pattern: /\b(isCpuAdapter|isFallbackAdapter)\b/,
    message: "adapter test outside src/gpu/ (read gpu.quirks instead)",
  },
  {
    pattern: /\buniforms\s*:\s*new\s+\w*Array\s*\(/,
    message: "hand-packed uniforms (declare a uniformStruct() and pass its pack())",
    everywhere: true,
  },
  {
    pattern: /\bfrom\s+["'][^"']*\/_[\w-]+\.ts["']/,
    message: "a bench or example imports a private _*.ts module (use the public API)",
    only: ["bench/", "examples/"],
  },
];

const ROOTS = ["mod.ts", "src", "tests", "bench", "examples"];

/**
 * Every violation of the GPU rules under `root`, as `path:line: message` (paths relative to
 * `root`).
 */
export async function findGpuRuleViolations(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const top of ROOTS) {
    for await (const file of sourceFiles(`${root}/${top}`)) {
      const rel = file.slice(root.length + 1);
      const inGpu = rel.startsWith("src/gpu/");
      const lines = (await Deno.readTextFile(file)).split("\n");
      lines.forEach((line, i) => {
        const t = line.trim();
        if (t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return;
        for (const rule of RULES) {
          if (inGpu && !rule.everywhere) continue;
          if (rule.only && !rule.only.some((p) => rel.startsWith(p))) continue;
          if (rule.pattern.test(line)) out.push(`${rel}:${i + 1}: ${rule.message}`);
        }
      });
    }
  }
  return out;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? ".";
  const found = await findGpuRuleViolations(root.replace(/\/+$/, ""));
  for (const v of found) console.error(`check_gpu_rules: ${v}`);
  if (found.length) Deno.exit(1);
}
