// Shared CLI plumbing: one clear line and exit code 2 for bad input, no stack traces.
import { GpuUnavailableError } from "../gpu/gpu_unavailable_error.ts";
import { UsageError } from "../jobs/usage_error.ts";
import { readEmbeddingDirectory } from "../data/embedding_files.ts";

export { UsageError };

/** Writes one progress line to stderr (stdout stays free for `--json`). */
export function progress(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
}

/** The `onLog` of a library call: each line on stderr after `<command>: `. */
export function logTo(command: string): (line: string) => void {
  return (line) => progress(`${command}: ${line}`);
}

/** Formats seconds as `1h02m03s` / `2m03s` / `3.4s`. */
export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(1)}s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.round(s % 60);
  return h > 0
    ? `${h}h${String(m).padStart(2, "0")}m${String(r).padStart(2, "0")}s`
    : `${m}m${String(r).padStart(2, "0")}s`;
}

/**
 * Moves to the directory the user called from, so that every relative path (flags and
 * default outputs alike) is the caller's. `deno task` runs a task in deno.json's directory and
 * passes the caller's directory as `INIT_CWD`; the tasks hand it on as `MLCD_CWD`, which is
 * read once and removed (a process this one starts does not inherit it). `INIT_CWD` itself is
 * not read: npm and `deno task` keep one they inherit, so a stale one reaches every process
 * below the first task (a test suite run by `deno task test`, for one).
 *
 * @returns The caller's directory, when it was given.
 */
export function enterCallerDirectory(): string | undefined {
  const dir = Deno.env.get("MLCD_CWD");
  if (dir === undefined) return undefined;
  Deno.env.delete("MLCD_CWD");
  if (dir === "") return undefined;
  Deno.chdir(dir);
  return dir;
}

/**
 * Runs a command's `main` from the caller's directory ({@linkcode enterCallerDirectory}),
 * mapping errors to exit codes: bad input (`UsageError`, `TypeError`, `RangeError`,
 * missing/unreadable files) and no GPU adapter (`GpuUnavailableError`) print
 * `mlcd <name>: <message>` on stderr and exit 2; anything else exits 1 with the message
 * (stack with MLCD_DEBUG=1).
 */
export async function runCli(
  name: string,
  main: (args: string[]) => Promise<void>,
  args: string[] = Deno.args,
): Promise<void> {
  try {
    enterCallerDirectory();
    await main(args);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const bad = err instanceof UsageError || err instanceof GpuUnavailableError ||
      err instanceof TypeError ||
      err instanceof RangeError || err instanceof Deno.errors.NotFound ||
      err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.IsADirectory ||
      err instanceof Deno.errors.NotADirectory || err instanceof Deno.errors.AlreadyExists ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" ||
      (err as { code?: string }).code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL";
    progress(`mlcd ${name}: ${err.message.split("\n")[0]}`);
    if (Deno.env.get("MLCD_DEBUG")) progress(err.stack ?? "");
    Deno.exit(bad ? 2 : 1);
  }
}

/**
 * Parses an integer flag value ≥ `min` (decimal digits only: `0x5`, `1e3` and `5.0` are
 * refused), or returns `fallback` when the flag is absent.
 */
export function intFlag(
  name: string,
  v: string | undefined,
  fallback: number,
  min: number,
): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\s*[+-]?\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`Expected --${name} to be an integer ≥ ${min} but found ${v}`);
  }
  return n;
}

/**
 * Lets a flag take a negative number as its value: `--k -3` becomes `--k=-3` (node's
 * `parseArgs` would read `-3` as an unknown short option), so that the value reaches the
 * usual range check and its message.
 */
export function joinNegativeValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!, next = args[i + 1];
    if (
      /^--[^=]+$/.test(a) && next !== undefined && /^-(\d|\.\d|inf|nan)/i.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * Says what each directory input means (README "Data formats": its embedding files, or its
 * `img_emb/` in clip-retrieval's layout) when that is not simply every file in it: one line
 * naming the directory read and what was skipped. Errors are left to the readers.
 */
export async function noticeInputDirectories(cmd: string, inputs: string[]): Promise<void> {
  for (const input of inputs) {
    if (!(await Deno.stat(input).then((s) => s.isDirectory, () => false))) continue;
    const d = await readEmbeddingDirectory(input).catch(() => undefined);
    if (!d || d.files.length === 0 || (d.dir === input && d.skipped.length === 0)) continue;
    const shown = d.skipped.slice(0, 5).join(", ") +
      (d.skipped.length > 5 ? ` and ${d.skipped.length - 5} more` : "");
    progress(
      `${cmd}: read ${d.files.length} embedding file(s) from ${d.dir}${
        d.dir === input ? "" : ` (clip-retrieval layout of ${input})`
      }${d.skipped.length ? `; skipped ${shown}` : ""}`,
    );
  }
}
