// Shared helpers for tests that run the toolkit's scripts in a subprocess.

/** Output of one `deno run -A …` subprocess. */
export interface DenoRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno run -A ...args` and captures its exit code and output. */
export async function runDeno(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<DenoRun> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...args],
    ...options,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/** The non-empty lines of stderr (the toolkit keeps the Vulkan loader quiet, so no filter). */
export function errLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l);
}
