// scripts/gpu_check_hf.ts at its quick shapes: the one-layer towers agree with the float64
// reference and the throughput runs complete on the software adapter.
import assert from "node:assert/strict";
import { checkHfShapes } from "../scripts/gpu_check_hf.ts";
import { testGpu } from "./_gpu.ts";

Deno.test("checkHfShapes() passes at the quick shapes (forward vs float64, embed, fwd+bwd)", async () => {
  const results = await checkHfShapes(await testGpu(), { quick: true });
  assert.equal(results.length, 6);
  for (const r of results) assert.ok(r.ok, `${r.name}: ${r.detail}`);
  assert.ok(results.some((r) => /images\/s/.test(r.detail)));
});
