// deno task setup: installs the npm packages from deno.json and builds the native
// hnswlib addon, which Deno does not build itself. Idempotent; safe to re-run.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; out: string } {
  try {
    const r = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).outputSync();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
  } catch (e) {
    return { ok: false, out: String(e) };
  }
}

const root = join(dirname(new URL(import.meta.url).pathname), "..");
console.error("setup: deno install (npm packages from deno.json)");
const inst = run(Deno.execPath(), ["install"], root);
if (!inst.ok) {
  console.error(inst.out);
  Deno.exit(1);
}

const denoDir = join(root, "node_modules", ".deno");
const hnswName = [...Deno.readDirSync(denoDir)].find((e) => e.name.startsWith("hnswlib-node@"))
  ?.name;
if (!hnswName) {
  console.error("setup: hnswlib-node is not in node_modules/.deno; check deno.json imports");
  Deno.exit(1);
}
const pkg = join(denoDir, hnswName, "node_modules", "hnswlib-node");
const addon = join(pkg, "build", "Release", "addon.node");
if (existsSync(addon)) {
  console.error(`setup: hnswlib addon already built (${addon})`);
} else {
  const npmBin = run("sh", ["-c", 'readlink -f "$(command -v npm)"']).out.trim();
  const gyp = npmBin
    ? join(dirname(dirname(npmBin)), "node_modules", "node-gyp", "bin", "node-gyp.js")
    : "";
  if (!npmBin || !existsSync(gyp)) {
    console.error(
      "setup: cannot find node-gyp (bundled with npm). Install Node.js with npm, " +
        "python3, make and g++, then re-run `deno task setup`.",
    );
    Deno.exit(1);
  }
  const args = [gyp, "rebuild"];
  const configured = run("npm", ["config", "get", "nodedir"]).out.trim().split("\n").pop() ?? "";
  if (existsSync("/usr/include/node/node.h")) args.push("--nodedir=/usr");
  else if (configured && configured !== "undefined") args.push(`--nodedir=${configured}`);
  console.error(`setup: building the hnswlib addon with node-gyp in ${pkg}`);
  const b = run("node", args, pkg);
  if (!b.ok || !existsSync(addon)) {
    console.error(b.out.split("\n").filter((l) => /ERR|error/i.test(l)).slice(-15).join("\n"));
    console.error(
      "setup: the hnswlib addon failed to build (the exact GPU paths still work). " +
        "It needs python3, make, g++ and Node.js headers (Debian: apt-get install -y nodejs npm g++ make python3).",
    );
    Deno.exit(1);
  }
  console.error(`setup: built ${addon}`);
}
console.error("setup: done");
