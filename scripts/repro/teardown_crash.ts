// Minimal reproduction of the exit-time crash of Deno's WebGPU on lavapipe.
//
//   deno run -A scripts/repro/teardown_crash.ts [--runs 20] [--mode MODE] [--workers 3]
//       [--via-test] [--wait-teardown] [--exit-delay MS] [--settle MS] [--tail-worker]
//   DENO_WEBGPU_BACKEND=vulkan,metal,dx12 deno run -A scripts/repro/teardown_crash.ts ...
//
// Spawns `runs` child processes. Each child runs `workers` Web Workers one after another (or,
// with --via-test, `deno test` over that many test modules plus a last one: each module runs in
// its own runtime on its own thread), each requesting a device, dispatching a small compute
// shader and reading the result back; then the child exits. MODE says what the workers do with
// their device at the end (see MODES). The parent prints how each child exited.
//
// Findings (Deno 2.9.6 with its wgpu, Mesa 22.3.6 lavapipe with LLVM 15, glibc 2.36, libglvnd
// libEGL, 2-core machine shared with other jobs):
// - `--workers 0` (all GPU work on the main runtime): 30/30 clean exits. Deno exits the main
//   runtime without tearing it down.
// - Workers, any MODE (keep, destroy-end, idle-destroy, destroy-unload): 5-18 % of the children
//   die with SIGSEGV or SIGABRT at exit. Destroy order, awaiting `queue.onSubmittedWorkDone()`
//   before `destroy()`, destroying or not at unload, and sleeping after destroy (`--settle 300`)
//   make no difference.
// - `--via-test` (what `deno test` does): 0-8 % per batch die at exit after the summary with
//   "double free or corruption (fasttop)". Core dump: the main thread is in exit() → _dl_fini →
//   libEGL.so.1's destructor, freeing; at the same time two exiting threads free their
//   thread-specific data (__nptl_deallocate_tsd, tcache shutdown) and find the heap corrupted.
//   wgpu starts its GL backend (EGL, Mesa's swrast_dri.so) next to Vulkan in every runtime,
//   although nothing uses it, and libEGL's exit-time teardown frees per-thread state that the
//   threads of torn-down runtimes free too. With DENO_WEBGPU_BACKEND=vulkan,metal,dx12 (no GL
//   instance): 0 of 360 runs in three batches (with and without --wait-teardown), against 16 of
//   489 in six batches (0-8 % per batch, with and without --wait-teardown) with the GL backend on.
// - Workers with the GL backend off still crash now and then (1/30, SIGSEGV: an exit handler
//   runs code that is no longer mapped; the worker's runtime is still being torn down, and the
//   Vulkan loader unloading lavapipe, while the main thread exits). Waiting until no
//   `llvmpipe-*` thread is left before exiting (`--wait-teardown`, ~25 ms) or `--exit-delay 1500`
//   gives 60/60 and 30/30 clean exits.
// Cause: Deno tears a finished runtime (test module, Worker) down on its own thread while the
// process carries on to exit(), and Mesa 22.3's EGL (libglvnd) and lavapipe teardown is not safe
// against that. The toolkit's own destroy calls do not matter. Workarounds: `createGpu` sets
// DENO_WEBGPU_BACKEND=vulkan,metal,dx12 when the user has not chosen backends (no EGL at all), and
// the tests wait for the `llvmpipe-*` threads to end before a module's first device and before
// exit (tests/_gpu.ts `waitForGpuTeardown`, tests/zz_gpu_teardown_test.ts).
import { parseArgs } from "node:util";

const MODES = {
  "destroy-unload": "device.destroy() in the worker's unload handler",
  "destroy-end": "device.destroy() right after the last readback",
  "idle-destroy": "await queue.onSubmittedWorkDone(), then device.destroy()",
  keep: "never destroy the device",
} as const;
type Mode = keyof typeof MODES;

const SHADER = `
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&v)) { v[g.x] = v[g.x] * 2.0 + 1.0; }
}`;

async function work(mode: Mode, dispatches: number): Promise<void> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no adapter");
  const device = await adapter.requestDevice();
  const n = 1 << 16;
  const buf = device.createBuffer({
    size: n * 4,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: "main" },
  });
  const bg = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: buf } }],
  });
  for (let i = 0; i < dispatches; i++) {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(n / 64);
    pass.end();
    device.queue.submit([enc.finish()]);
  }
  const staging = device.createBuffer({
    size: 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buf, 0, staging, 0, 16);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  staging.unmap();
  if (mode === "destroy-end") device.destroy();
  if (mode === "idle-destroy") {
    await device.queue.onSubmittedWorkDone();
    device.destroy();
  }
  if (mode === "destroy-unload") globalThis.addEventListener("unload", () => device.destroy());
}

/** Threads of Mesa's software rasteriser still alive in this process. */
function mesaThreads(): number {
  let n = 0;
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      if (/^llvmpipe-/.test(Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`))) n++;
    } catch { /* the thread ended meanwhile */ }
  }
  return n;
}

const args = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "20" },
    mode: { type: "string", default: "destroy-unload" },
    workers: { type: "string", default: "3" },
    dispatches: { type: "string", default: "50" },
    "exit-delay": { type: "string", default: "0" },
    "tail-worker": { type: "boolean", default: false },
    settle: { type: "string", default: "0" },
    "wait-teardown": { type: "boolean", default: false },
    "via-test": { type: "boolean", default: false },
    child: { type: "boolean", default: false },
    worker: { type: "boolean", default: false },
  },
});
const mode = args.values.mode as Mode;
if (!(mode in MODES)) {
  console.error(`teardown_crash: --mode must be one of ${Object.keys(MODES).join(", ")}`);
  Deno.exit(2);
}
const dispatches = Number(args.values.dispatches);

if ((globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== undefined) {
  // Inside a worker: do the work, then tell the parent.
  const self = globalThis as unknown as {
    onmessage: (e: MessageEvent) => void;
    postMessage(m: unknown): void;
    close(): void;
  };
  self.onmessage = async (e: MessageEvent) => {
    if (e.data.gpu) await work(e.data.mode, e.data.dispatches);
    if (e.data.settle > 0) await new Promise((r) => setTimeout(r, e.data.settle));
    self.postMessage("done");
  };
} else if (args.values.child) {
  const workers = Number(args.values.workers);
  if (workers === 0) await work(mode, dispatches);
  const tail = args.values["tail-worker"] ? 1 : 0;
  for (let w = 0; w < workers + tail; w++) {
    const worker = new Worker(import.meta.url, { type: "module" });
    await new Promise<void>((resolve, reject) => {
      worker.onmessage = () => resolve();
      worker.onerror = (e) => reject(e);
      worker.postMessage({
        mode,
        dispatches,
        gpu: w < workers,
        settle: Number(args.values.settle),
      });
    });
    worker.terminate();
  }
  if (args.values["wait-teardown"]) {
    const t0 = Date.now();
    while (mesaThreads() > 0 && Date.now() - t0 < 10000) {
      await new Promise((r) => setTimeout(r, 20));
    }
    console.error(`waited ${Date.now() - t0} ms for the GPU teardown`);
  }
  const delay = Number(args.values["exit-delay"]);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
} else {
  const runs = Number(args.values.runs);
  const outcomes = new Map<string, number>();
  // --via-test: the same work in `workers` test modules (plus a last one) run by `deno test`.
  let testDir: string | null = null;
  if (args.values["via-test"]) {
    testDir = await Deno.makeTempDir({ prefix: "teardown_crash_" });
    const wait = args.values["wait-teardown"];
    await Deno.writeTextFile(
      `${testDir}/_work.ts`,
      `const SHADER = ${JSON.stringify(SHADER)};\nexport ${work}\nexport ${mesaThreads}\n` +
        `export async function settle() {\n  const t0 = Date.now();\n` +
        `  while (${wait} && mesaThreads() > 0 && Date.now() - t0 < 20000) {\n` +
        `    await new Promise((r) => setTimeout(r, 10));\n  }\n}\n`,
    );
    for (let w = 0; w < Number(args.values.workers); w++) {
      await Deno.writeTextFile(
        `${testDir}/m${w}_test.ts`,
        `import { settle, work } from "./_work.ts";\nDeno.test("m${w}", async () => {\n` +
          `  await settle();\n  await work(${JSON.stringify(mode)}, ${dispatches});\n});\n`,
      );
    }
    await Deno.writeTextFile(
      `${testDir}/zz_test.ts`,
      `import { settle } from "./_work.ts";\nDeno.test("zz", () => settle());\n`,
    );
  }
  for (let i = 0; i < runs; i++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: testDir ? ["test", "-A", "--no-check", testDir] : [
        "run",
        "-A",
        import.meta.filename!,
        "--child",
        "--mode",
        mode,
        "--workers",
        args.values.workers!,
        "--dispatches",
        String(dispatches),
        "--exit-delay",
        args.values["exit-delay"]!,
        ...(args.values["tail-worker"] ? ["--tail-worker"] : []),
        "--settle",
        args.values.settle!,
        ...(args.values["wait-teardown"] ? ["--wait-teardown"] : []),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const how = out.signal ? `signal ${out.signal}` : `exit ${out.code}`;
    outcomes.set(how, (outcomes.get(how) ?? 0) + 1);
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-1)[0] ?? "";
    if (Deno.env.get("REPRO_DEBUG")) {
      console.error(new TextDecoder().decode(out.stdout), new TextDecoder().decode(out.stderr));
    }
    console.error(`run ${i + 1}/${runs}: ${how}${err ? ` (${err})` : ""}`);
  }
  if (testDir) await Deno.remove(testDir, { recursive: true });
  console.log(
    `mode ${mode} (${MODES[mode]}), ${args.values.workers} ${testDir ? "test modules" : "workers"}${
      args.values["wait-teardown"] ? ", waiting for teardown" : ""
    }` +
      `, DENO_WEBGPU_BACKEND=${Deno.env.get("DENO_WEBGPU_BACKEND") ?? "(unset)"}: ` +
      [...outcomes].map(([k, v]) => `${v}× ${k}`).join(", "),
  );
}
