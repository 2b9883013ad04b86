// Test helper: stop a child process at a known point (src/testing/pause_point.ts) and kill it
// there, instead of racing its log lines or files against a timer.

/** The environment that makes a child pause at the point `at` (`<prefix>[#<n>]`). */
export function pauseEnv(at: string, marker: string): Record<string, string> {
  return { MLCD_PAUSE_AT: at, MLCD_PAUSE_FILE: marker };
}

/**
 * Waits until a child pauses (its marker file appears) and returns the point's name. Throws
 * when `child` ends first (with its stderr when piped and given as `stderr`), or when nothing
 * pauses within `timeoutMs` (a generous bound for a process that is not ours, e.g. a Slurm
 * task; the paused process itself cannot get past the point meanwhile).
 */
export async function waitForPause(
  marker: string,
  child?: { status: Promise<Deno.CommandStatus> },
  stderr?: Promise<string>,
  timeoutMs = 600_000,
): Promise<string> {
  const ended: { status?: Deno.CommandStatus } = {};
  child?.status.then((s) => ended.status = s);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    try {
      return (await Deno.readTextFile(marker)).split("\n")[0]!;
    } catch { /* not yet */ }
    if (ended.status) {
      throw new Error(
        `the child ended (code ${ended.status.code}) before its pause point:\n${
          (await stderr) ?? ""
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing paused at ${marker} within ${timeoutMs / 1000} s`);
}
