/**
 * `mlcd`: the toolkit's one command, `mlcd <command> [options]`. Relative paths are the
 * caller's, whether it runs as the installed command (`deno task install`), through
 * `deno task <command>` or as the executable of `deno task compile`.
 *
 * @example Usage
 * ```sh
 * mlcd cluster --input embeddings/ --k 1000 --out centroids.npy
 * mlcd --help
 * ```
 *
 * @module
 */
import { progress, runCli, UsageError } from "./_cli.ts";
import { TOOLKIT_VERSION } from "../version.ts";

/** A subcommand's module: its `main` takes the arguments after the subcommand's name. */
interface CommandModule {
  main(args: string[]): Promise<void>;
}

/** A subcommand: a module of src/cli, or a script of the repository run by Deno. */
interface Command {
  about: string;
  load?: () => Promise<CommandModule>;
  /** A script beside src/ (not in the compiled executable), and whether it needs the npm packages. */
  script?: { path: string; setup: boolean };
}

const COMMANDS: Record<string, Command> = {
  cluster: {
    about: "spherical k-means of .npy/Parquet/Arrow embeddings on the GPU",
    load: () => import("./cluster.ts"),
  },
  assign: {
    about: "the top-l nearest centers of every embedding, as multi-labels",
    load: () => import("./assign.ts"),
  },
  train: {
    about: "cluster, assign and train an encoder with the MLCD loss",
    load: () => import("./train.ts"),
  },
  eval: {
    about: "linear probe, kNN, retrieval recall and NMI/ARI of a checkpoint",
    load: () => import("./eval.ts"),
  },
  embed: {
    about: "embeddings of images, shards or embeddings with a checkpoint or a model",
    load: () => import("./embed.ts"),
  },
  report: {
    about: "a self-contained report.html of a run",
    load: () => import("./report.ts"),
  },
  demo: {
    about: "the whole cycle on MNIST digits: cluster → assign → train → eval",
    load: () => import("./demo.ts"),
  },
  bench: {
    about: "comparisons with faiss, scikit-learn, ml-kmeans, hnswlib and tfjs",
    script: { path: "bench/run.ts", setup: true },
  },
  "gpu-check": {
    about: "every kernel at GPU-sized shapes against float64, then a short benchmark",
    script: { path: "scripts/gpu_check.ts", setup: false },
  },
};

const HELP = [
  `mlcd ${TOOLKIT_VERSION}: MLCD (multi-label cluster discrimination) on WebGPU`,
  "",
  "Usage: mlcd <command> [options]     (mlcd <command> --help for its options)",
  "",
  "Commands:",
  ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.about}`),
  "",
  "Relative paths, and default outputs such as runs/, are where you call mlcd from.",
  "Every command takes --json (a JSON summary on stdout; progress goes to stderr).",
  "Bad input prints one line on stderr and exits with code 2.",
].join("\n");

/** The repository root, when this module runs from a clone (not from a compiled executable). */
const ROOT = new URL("../../", import.meta.url);

/** Runs a repository script in a Deno process of its own, from the caller's directory. */
async function runScript(name: string, script: { path: string; setup: boolean }, args: string[]) {
  const file = new URL(script.path, ROOT);
  const exists = ROOT.protocol === "file:" && !Deno.build.standalone &&
    await Deno.stat(file).then((s) => s.isFile, () => false);
  if (!exists) {
    throw new UsageError(
      `${name} is not in the compiled executable: it runs the repository's ${script.path} ` +
        `in a Deno process of its own (use the installed mlcd command: deno task install)`,
    );
  }
  const deno = Deno.execPath();
  const config = new URL("deno.json", ROOT).pathname;
  const run = async (path: string, rest: string[]) =>
    (await new Deno.Command(deno, {
      args: ["run", "-A", "--config", config, path, ...rest],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).output()).code;
  if (script.setup) {
    const code = await run(new URL("scripts/setup.ts", ROOT).pathname, []);
    if (code !== 0) Deno.exit(code);
  }
  Deno.exit(await run(file.pathname, args));
}

/**
 * `mlcd`'s entry point: `args[0]` names the command, the rest are its arguments.
 *
 * @param args The command line after `mlcd`.
 * @returns When the command is done.
 *
 * @example Usage
 * ```ts ignore
 * await main(["cluster", "--input", "emb.npy", "--k", "10", "--out", "c.npy"]);
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(HELP);
    return;
  }
  if (name === "--version") {
    console.log(TOOLKIT_VERSION);
    return;
  }
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command || name === undefined) {
    progress(
      `mlcd: ${name === undefined ? "Expected a command" : `Unknown command ${name}`}: one of ${
        Object.keys(COMMANDS).join(", ")
      } (mlcd --help)`,
    );
    Deno.exit(2);
  }
  if (command.script) {
    await runCli(name, (a) => runScript(name, command.script!, a), rest);
    return;
  }
  const mod = await command.load!();
  await runCli(name, mod.main, rest);
}

if (import.meta.main) await main(Deno.args);
