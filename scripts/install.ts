// deno task install: installs the `mlcd` command (src/cli/mlcd.ts) with `deno install --global`
// after the task's setup step (npm packages, the hnswlib addon). The command runs this clone's
// files with the Deno that ran this script (its absolute path, so that a Deno from
// `npx -y deno@…` works after npx is gone from PATH), and resolves the npm packages from this
// clone's node_modules (deno.json's "nodeModulesDir": "manual"; `deno install --global` keeps
// a copy of deno.json beside the command, and the packages are found from the module's
// directory). Moving the clone breaks the command: run the task again.
//
//   deno task install                       into $DENO_INSTALL_ROOT/bin, else ~/.deno/bin
//   deno task install --root DIR            into DIR/bin
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { root: { type: "string" }, name: { type: "string", default: "mlcd" } },
});
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const deno = Deno.execPath();
const args = [
  "install",
  "--global",
  "--force",
  "--allow-all",
  "--no-check",
  "--name",
  values.name,
  "--config",
  join(root, "deno.json"),
  ...(values.root !== undefined ? ["--root", values.root] : []),
  join(root, "src", "cli", "mlcd.ts"),
];
const r = await new Deno.Command(deno, { args, stdout: "piped", stderr: "piped" }).output();
const dec = new TextDecoder();
const out = dec.decode(r.stdout) + dec.decode(r.stderr);
if (!r.success) {
  console.error(out.trimEnd());
  console.error("mlcd install: deno install failed (its output is above)");
  Deno.exit(1);
}
const installRoot = values.root ?? Deno.env.get("DENO_INSTALL_ROOT") ??
  join(Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".", ".deno");
const bin = join(installRoot, "bin");
const windows = Deno.build.os === "windows";
const shim = join(bin, windows ? `${values.name}.cmd` : values.name);
// Run the Deno that installed it, not whichever `deno` is first on PATH (or none).
const text = await Deno.readTextFile(shim);
const quoted = windows ? `"${deno}"` : `'${deno.replaceAll("'", `'\\''`)}'`;
const pinned = text.replace(/(^|\n)(exec |@)?deno run /, `$1$2${quoted} run `);
if (pinned === text) {
  console.error(`mlcd install: unexpected launcher ${shim}; it runs the \`deno\` on PATH`);
} else await Deno.writeTextFile(shim, pinned);
const onPath = (Deno.env.get("PATH") ?? "").split(windows ? ";" : ":").includes(bin);
console.error(
  `mlcd install: installed ${shim} (Deno ${Deno.version.deno}, this clone's files)${
    onPath ? "" : `; add ${bin} to PATH: export PATH="${bin}:$PATH"`
  }`,
);
