/**
 * A test-only pause, so that a test can kill a child process at a known point instead of
 * racing a timer. `await pausePoint(name)` does nothing unless the environment says
 * `MLCD_PAUSE_AT=<prefix>[#<n>]` and `MLCD_PAUSE_FILE=<path>`: then the n-th point (default
 * the first) of this process whose name starts with `<prefix>` writes its name and the
 * process id to the marker file `<path>` and waits until that file is removed. The test
 * waits for the marker, kills the child (which cannot get past the point meanwhile), or
 * removes the marker to let it go on.
 *
 * @module
 */

let hits = 0;

/** `MLCD_PAUSE_AT` and `MLCD_PAUSE_FILE`, or null without them or without env permission. */
function config(): { prefix: string; nth: number; file: string } | null {
  let at: string | undefined, file: string | undefined;
  try {
    at = Deno.env.get("MLCD_PAUSE_AT");
    if (!at) return null;
    file = Deno.env.get("MLCD_PAUSE_FILE");
  } catch {
    return null; // no --allow-env: never a test child
  }
  const m = /^(.*?)(?:#(\d+))?$/.exec(at)!;
  if (!file) throw new TypeError(`Expected MLCD_PAUSE_FILE with MLCD_PAUSE_AT=${at}`);
  return { prefix: m[1]!, nth: m[2] === undefined ? 1 : Number(m[2]), file };
}

/**
 * Pauses here when the environment names this point (see the module doc); otherwise returns
 * at once. Name points `<what> <detail>`, e.g. `kmeans-checkpoint <path>`, so that a test can
 * pick one by prefix.
 *
 * @param name The point's name.
 *
 * @example Usage
 * ```ts
 * import { pausePoint } from "./pause_point.ts";
 * await pausePoint("train-checkpoint step 8"); // returns at once unless MLCD_PAUSE_AT names it
 * ```
 */
export async function pausePoint(name: string): Promise<void> {
  const c = config();
  if (!c || !name.startsWith(c.prefix) || ++hits !== c.nth) return;
  await Deno.writeTextFile(`${c.file}.tmp`, `${name}\n${Deno.pid}\n`);
  await Deno.rename(`${c.file}.tmp`, c.file); // whole, or not there
  for (;;) {
    try {
      await Deno.stat(c.file);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
