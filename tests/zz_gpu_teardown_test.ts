// Runs last (deno test orders modules by name): waits until the GPU runtimes of the earlier
// modules have finished their teardown, so that the process does not exit while lavapipe is
// still tearing down a device on another thread (the exit-time SIGSEGV/SIGABRT reproduced by
// scripts/repro/teardown_crash.ts). On other adapters there is nothing to wait for.
import assert from "node:assert/strict";
import { waitForGpuTeardown } from "./_gpu.ts";

Deno.test("GPU runtimes of earlier test modules finish their teardown before exit", async () => {
  assert.equal(await waitForGpuTeardown(), 0, "lavapipe threads still alive after 20 s");
});
