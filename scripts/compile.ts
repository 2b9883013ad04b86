// deno task compile: builds dist/mlcd (or --out PATH), a self-contained `mlcd` executable for
// machines that should not run an npm install (cluster nodes): `deno compile` of
// src/cli/mlcd.ts with the npm packages of node_modules inside. What it cannot hold
// (README "Install"): sharp's native addon loads libvips from beside it, and deno compile
// extracts a `.node` file alone, so image inputs (folders, shards, --model) say so in one
// line; bench and gpu-check run repository scripts in processes of their own and say so too.
// The Arrow and Parquet readers are loaded through a specifier in a variable (see
// src/data/load_arrow.ts), so they are included by name. deno compile downloads its runtime
// (denort) on first use; where that cannot be reached, DENORT_BIN names a local copy.
//
//   deno task compile                 → dist/mlcd
//   deno task compile --out PATH      → PATH
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  args: Deno.args,
  options: { out: { type: "string", default: join(root, "dist", "mlcd") } },
});
const args = [
  "compile",
  "--allow-all",
  "--no-check",
  "--config",
  join(root, "deno.json"),
  "--include",
  join(root, "src", "data", "arrow.ts"),
  "--include",
  join(root, "src", "data", "parquet.ts"),
  "--output",
  values.out,
  join(root, "src", "cli", "mlcd.ts"),
];
const r = await new Deno.Command(Deno.execPath(), { args, stdout: "piped", stderr: "piped" })
  .output();
const out = new TextDecoder().decode(r.stderr) + new TextDecoder().decode(r.stdout);
if (!r.success) {
  console.error(out.trimEnd());
  const runtime = /denort|dl\.deno\.land/.test(out);
  console.error(
    runtime
      ? "mlcd compile: deno compile could not fetch its runtime (denort); set DENORT_BIN to a " +
        `denort ${Deno.version.deno} binary, or run it where dl.deno.land can be reached`
      : "mlcd compile: deno compile failed (its output is above)",
  );
  Deno.exit(1);
}
const size = (await Deno.stat(values.out)).size;
console.error(`mlcd compile: wrote ${values.out} (${(size / 2 ** 20).toFixed(0)} MiB)`);
