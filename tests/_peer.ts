// Test helper: tests that need an optional peer (a Python module, Slurm, ...). The project's
// rule: outside CI a missing peer makes the test `ignore:`d, with the reason in its name and
// printed; under CI=true a missing peer FAILS the test. A peer that is there but errors is
// never a skip: the test runs and fails (see tests/_python.ts `python()`).
import { pythonMissing } from "./_python.ts";

/** Whether this run is CI's (`CI=true`, as .ci/run exports): missing peers fail there. */
export const CI: boolean = Deno.env.get("CI") === "true";

/** An optional peer, probed once per test module. */
export interface Peer {
  /** What it is, with how to install it, e.g. "faiss (apt-get install python3-faiss)". */
  name: string;
  /** Why it cannot be used here, or null when it can. */
  missing: string | null;
}

/** A Python peer: usable when the test interpreter imports every one of `modules`. */
export async function pythonPeer(name: string, modules: string[]): Promise<Peer> {
  return { name, missing: await pythonMissing(modules) };
}

/** A command-line peer: usable when every one of `commands` is on PATH. */
export function commandPeer(name: string, commands: string[]): Peer {
  const absent = commands.filter((c) => {
    try {
      return !new Deno.Command("sh", { args: ["-c", `command -v '${c}'`], stdout: "null" })
        .outputSync().success;
    } catch {
      return true;
    }
  });
  return { name, missing: absent.length ? `not on PATH: ${absent.join(", ")}` : null };
}

/** Test options plus the peers the test needs. */
export type PeerTestDefinition = Deno.TestDefinition & { needs: Peer[] };

/**
 * Registers a test that needs `needs`. All there: an ordinary test. One missing, outside CI:
 * the test is ignored, named `<name> [ignored: <peer>: <why>]` and the reason printed to
 * stderr (scripts/test.ts lists ignored tests with their names and counts them). One missing
 * under `CI=true`: the test fails with the reason.
 */
export function peerTest(def: PeerTestDefinition): void {
  const { needs, ...test } = def;
  const missing = needs.filter((p) => p.missing !== null);
  if (missing.length === 0) {
    Deno.test(test);
    return;
  }
  const why = missing.map((p) => `${p.name}: ${p.missing}`).join("; ");
  if (CI) {
    Deno.test({
      ...test,
      fn: () => {
        throw new Error(`CI=true needs every peer of this test, but ${why}`);
      },
    });
    return;
  }
  console.error(`ignoring "${test.name}": ${why}`);
  Deno.test({ ...test, name: `${test.name} [ignored: ${why}]`, ignore: true });
}
