// The test-only pause point that the process-kill tests stop their children at.
import assert from "node:assert/strict";
import { pausePoint } from "../src/testing/pause_point.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { withDir } from "./_tmp.ts";

const MODULE = new URL("../src/testing/pause_point.ts", import.meta.url).href;

Deno.test("pausePoint() returns at once when MLCD_PAUSE_AT does not name it", async () => {
  assert.equal(Deno.env.get("MLCD_PAUSE_AT"), undefined);
  await pausePoint("kmeans-checkpoint x"); // would never return if it paused
});

Deno.test("pausePoint() pauses the n-th point named by prefix until the marker is removed", async () => {
  await withDir(async (dir) => {
    const code = `import { pausePoint } from "${MODULE}";
for (const name of ["a 1", "b 1", "a 2", "a 3"]) {
  await pausePoint(name);
  console.log("passed " + name);
}`;
    const marker = `${dir}/paused`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", code],
      env: pauseEnv("a#2", marker),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = new Response(child.stdout).text();
    assert.equal(await waitForPause(marker, child), "a 2");
    const [name, pid] = (await Deno.readTextFile(marker)).trim().split("\n");
    assert.deepEqual([name, Number(pid)], ["a 2", child.pid]);
    await new Promise((r) => setTimeout(r, 200));
    await Deno.remove(marker); // let it go on
    const status = await child.status;
    await new Response(child.stderr).text();
    assert.equal(status.code, 0);
    assert.equal(await out, "passed a 1\npassed b 1\npassed a 2\npassed a 3\n");
  });
});

Deno.test("waitForPause() fails when the child ends without pausing", async () => {
  await withDir(async (dir) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", `import { pausePoint } from "${MODULE}"; await pausePoint("b");`],
      env: pauseEnv("a", `${dir}/paused`),
      stdout: "null",
      stderr: "null",
    }).spawn();
    await assert.rejects(() => waitForPause(`${dir}/paused`, child), /ended \(code 0\) before/);
  });
});
