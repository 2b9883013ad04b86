// Test helper: the one Python interpreter the reference tests run (numpy, faiss, scikit-learn,
// PyTorch), and the one way to run it.

/**
 * The interpreter: `MLCD_PYTHON`, else Debian's system one (python3-faiss, python3-sklearn,
 * python3-numpy and python3-torch install there; a pyenv shim on PATH may shadow it).
 */
export const PYTHON: string = Deno.env.get("MLCD_PYTHON") ?? "/usr/bin/python3";

/**
 * Runs `PYTHON ...args` (e.g. `["-c", code, arg]` or `[script, arg]`), with `stdin` piped in
 * when given, and returns its stdout. A run that fails (cannot start, or exits non-zero)
 * throws an Error with the command and its stderr: a peer that runs but errors fails the test.
 */
export async function python(args: string[], options: { stdin?: string } = {}): Promise<string> {
  const what = `${PYTHON} ${args[0] === "-c" ? "-c <code>" : args[0]}`;
  let out: Deno.CommandOutput;
  try {
    const child = new Deno.Command(PYTHON, {
      args,
      stdin: options.stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(options.stdin));
      await w.close();
    }
    out = await child.output();
  } catch (e) {
    throw new Error(`${what} did not start: ${(e as Error).message}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`${what} exited with ${out.code}:\n${dec.decode(out.stderr).trimEnd()}`);
  }
  return dec.decode(out.stdout);
}

/**
 * Why `import <modules>` fails in {@linkcode PYTHON} (the last line of its error), or null when
 * every module imports.
 */
export async function pythonMissing(modules: string[]): Promise<string | null> {
  try {
    await python(["-c", `import ${modules.join(", ")}`]);
    return null;
  } catch (e) {
    const last = (e as Error).message.trim().split("\n").at(-1) ?? "";
    return `${PYTHON} cannot import ${modules.join(", ")}: ${last}`;
  }
}
