// Minimal reproduction of the exit-time crash of Deno's WebGPU on lavapipe.
//
//   deno run -A scripts/repro/teardown_crash.ts [--runs 20] [--mode MODE] [--workers 3]
//       [--wait-teardown] [--exit-delay MS] [--settle MS] [--tail-worker]
//
// Spawns `runs` child processes. Each child runs `workers` Web Workers one after another (as
// `deno test` runs each test module in its own runtime on its own thread), each requesting a
// device, dispatching a small compute shader and reading the result back; then the child exits.
// MODE says what the workers do with their device at the end (see MODES). The parent prints how
// each child exited and a count of signals.
//
// Findings (Deno 2.9.6, Mesa 22.3.6 lavapipe with LLVM 15, glibc 2.36, 2-core machine):
// - `--workers 0` (all GPU work on the main runtime): 30/30 clean exits. Deno exits the main
//   runtime without tearing it down, so lavapipe is never torn down.
// - `--workers 3`, any MODE (keep, destroy-end, idle-destroy, destroy-unload): 5-18 % of the
//   children die with SIGSEGV or SIGABRT ("double free or corruption", "corrupted size vs.
//   prev_size") at exit. Destroy order, awaiting `queue.onSubmittedWorkDone()` before
//   `destroy()`, destroying or not destroying at unload, `--settle 300` (sleep in the worker after
//   destroy), `DENO_WEBGPU_BACKEND=vulkan` (no EGL/GL instance) and LD_PRELOAD-ing libvulkan and
//   libvulkan_lvp.so (so that they are never dlclose'd) all leave it crashing.
// - `--exit-delay 1500` (the main thread waits before exiting) or `--wait-teardown` (waits until
//   no `llvmpipe-*` thread is left, typically ~25 ms): 30/30 and 60/60 clean.
// - Core dumps: the main thread is in glibc's `__run_exit_handlers`, calling a handler whose
//   code is no longer mapped, or another thread is inside `free()` called from swrast_dri.so
//   (via libEGL_mesa) while the main thread runs the exit handlers.
// Cause: Deno tears a finished worker's (or test module's) runtime down on that worker's thread
// (dropping its wgpu instance, which destroys the lavapipe devices and the Vulkan/EGL instances)
// while the rest of the process carries on and calls exit(); Mesa 22.3's lavapipe/llvmpipe
// teardown is not safe against a concurrent exit(). The fault is the interplay of Deno 2.9.6's
// runtime teardown (not joined before exit) and Mesa 22.3.6's teardown; the toolkit's own
// destroy calls do not matter. Workaround: wait for the `llvmpipe-*` threads to end before the
// next runtime creates a device and before exit (tests/_gpu.ts `waitForGpuTeardown`, and
// tests/zz_gpu_teardown_test.ts, which deno test runs last).
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
  for (let i = 0; i < runs; i++) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
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
    console.error(`run ${i + 1}/${runs}: ${how}${err ? ` (${err})` : ""}`);
  }
  console.log(
    `mode ${mode} (${MODES[mode]}), ${args.values.workers} workers: ` +
      [...outcomes].map(([k, v]) => `${v}× ${k}`).join(", "),
  );
}
