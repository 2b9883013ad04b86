// deno task setup: installs the npm packages from deno.json (deno.json sets
// "nodeModulesDir": "manual", so this is the one place they are installed) and builds the
// native hnswlib addon, which Deno does not build itself. Every task that needs the packages
// runs this first; when nothing changed since the last run it returns at once and prints
// nothing. Otherwise it prints one line, installs quietly, and shows Deno's or node-gyp's
// output only when that fails.
//
//   deno run -A scripts/setup.ts               silent unless it has work to do or fails; a failed
//                                              addon build is not an error (the demo and the
//                                              exact GPU paths work without it)
//   deno run -A scripts/setup.ts --need-addon  the addon must build (retried when it failed)
//   ... --report                               end with a line saying what is installed
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    "need-addon": { type: "boolean", default: false },
    report: { type: "boolean", default: false },
  },
});
const addonRequired = values["need-addon"];

function run(
  cmd: string,
  args: string[],
  cwd?: string,
  env?: Record<string, string>,
): { ok: boolean; out: string } {
  try {
    const r = new Deno.Command(cmd, { args, cwd, env, stdout: "piped", stderr: "piped" })
      .outputSync();
    const dec = new TextDecoder();
    return { ok: r.success, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
  } catch (e) {
    return { ok: false, out: String(e) };
  }
}

const say = (line: string) => console.error(line);
const root = join(dirname(new URL(import.meta.url).pathname), "..");
const stampPath = join(root, "node_modules", ".mlcd-setup.json");

/** What the install depends on: Deno's version, deno.json's npm imports, deno.lock's npm part. */
async function fingerprint(): Promise<string> {
  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  let lock: unknown = null;
  try {
    const l = JSON.parse(await Deno.readTextFile(join(root, "deno.lock")));
    lock = { specifiers: l.specifiers, npm: l.npm };
  } catch {
    // no lockfile yet: the install writes one
  }
  const text = JSON.stringify([
    Deno.version.deno,
    config.imports,
    config.allowScripts,
    config.nodeModulesDir,
    lock,
  ]);
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Stamp {
  fingerprint: string;
  addon: "built" | "failed";
}

function readStamp(): Stamp | null {
  try {
    return JSON.parse(Deno.readTextFileSync(stampPath)) as Stamp;
  } catch {
    return null;
  }
}

function hnswPackageDir(): string | null {
  const denoDir = join(root, "node_modules", ".deno");
  if (!existsSync(denoDir)) return null;
  const name = [...Deno.readDirSync(denoDir)].find((e) => e.name.startsWith("hnswlib-node@"))
    ?.name;
  return name ? join(denoDir, name, "node_modules", "hnswlib-node") : null;
}

const addonPath = (pkg: string) => join(pkg, "build", "Release", "addon.node");

/** Builds the hnswlib addon with the node-gyp bundled with npm; returns null or why it failed. */
function buildAddon(pkg: string): string | null {
  const npmBin = run("sh", ["-c", 'readlink -f "$(command -v npm)"']).out.trim();
  const gyp = npmBin
    ? join(dirname(dirname(npmBin)), "node_modules", "node-gyp", "bin", "node-gyp.js")
    : "";
  if (!npmBin || !existsSync(gyp)) {
    return "cannot find node-gyp (bundled with npm). Install Node.js with npm, " +
      "python3, make and g++, then re-run `deno task setup`.";
  }
  const args = [gyp, "rebuild"];
  const configured = run("npm", ["config", "get", "nodedir"]).out.trim().split("\n").pop() ?? "";
  if (existsSync("/usr/include/node/node.h")) args.push("--nodedir=/usr");
  else if (configured && configured !== "undefined") args.push(`--nodedir=${configured}`);
  const b = run("node", args, pkg);
  if (b.ok && existsSync(addonPath(pkg))) return null;
  return b.out.split("\n").filter((l) => /ERR|error/i.test(l)).slice(-15).join("\n") + "\n" +
    "the hnswlib addon failed to build (the exact GPU paths still work). It needs python3, " +
    "make, g++ and Node.js headers (Debian: apt-get install -y nodejs npm g++ make python3).";
}

const stamp = readStamp();
const fp = await fingerprint();
const pkg0 = hnswPackageDir();
const upToDate = stamp?.fingerprint === fp && pkg0 !== null &&
  (existsSync(addonPath(pkg0)) || (!addonRequired && stamp.addon === "failed"));

if (!upToDate) {
  const fresh = stamp?.fingerprint !== fp || pkg0 === null;
  if (fresh) say("installing npm packages (first run only)…");
  else say("building the hnswlib addon (first run only)…");
  if (fresh) {
    const inst = run(Deno.execPath(), ["install"], root, { NO_COLOR: "1" });
    if (!inst.ok) {
      // Deno's own output, less its per-package progress lines (the error is what matters).
      const lines = inst.out.trimEnd().split("\n");
      say(lines.filter((l) => !/^(Download|Initialize) /.test(l)).join("\n"));
      say("setup: `deno install` failed (output above)");
      Deno.exit(1);
    }
  }
  const pkg = hnswPackageDir();
  if (!pkg) {
    say("setup: hnswlib-node is not in node_modules/.deno; check deno.json imports");
    Deno.exit(1);
  }
  let addon: Stamp["addon"] = "built";
  if (!existsSync(addonPath(pkg))) {
    const failure = buildAddon(pkg);
    if (failure !== null) {
      addon = "failed";
      if (addonRequired) {
        say(`setup: ${failure}`);
        Deno.exit(1);
      }
    }
  }
  // The install may have written deno.lock: fingerprint what is there now.
  const done: Stamp = { fingerprint: await fingerprint(), addon };
  await Deno.writeTextFile(stampPath, JSON.stringify(done) + "\n");
}
if (values.report) {
  const built = readStamp()?.addon === "built";
  say(`setup: npm packages installed, hnswlib addon ${built ? "built" : "not built"}`);
}
