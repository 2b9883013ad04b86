import type { Gpu } from "./gpu.ts";
import { assertUsable } from "./gpu.ts";
import { getPipeline } from "./pipeline_cache.ts";
import { finishProfile, passTimestampWrites } from "./profiler.ts";
import { type UniformStruct, wgslUniformFields } from "./uniforms.ts";

/**
 * Describes one compute pass: the WGSL, its cache key, the dispatch size and the
 * uniforms. A program only describes work; {@linkcode dispatch} runs it.
 *
 * Bindings in group 0: binding 0 is the uniform block when `uniforms` is set, the
 * buffers passed to {@linkcode dispatch} follow in order.
 */
export interface Program {
  /** Names every choice baked into `code`; the pipeline cache key. */
  shaderKey: string;
  /**
   * WGSL source with a `main` compute entry point, or a function building it (called only
   * when the pipeline cache misses, so templates are specialised once per key).
   */
  code: string | (() => string);
  /**
   * The shader's `@workgroup_size` (x, or x, y, z); checked against the WGSL when the
   * pipeline is compiled, and used by {@linkcode workgroupsFor}.
   */
  workgroupSize?: number | readonly [number, number, number];
  /**
   * The layout `uniforms` were packed with (required with `uniforms`); checked against the
   * WGSL `struct` of binding 0 when the pipeline is compiled.
   */
  uniformStruct?: UniformStruct;
  /** Workgroups along x, y, z (use {@linkcode foldDispatch} above 65535). */
  workgroups: [number, number, number];
  /** Uniform block contents (sizes etc.), packed by `uniformStruct.pack()`. */
  uniforms?: ArrayBufferView;
  /** Pipeline-overridable constants. */
  constants?: Record<string, number>;
}

/** A buffer or a byte range of one, bound to a storage binding. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

const temps = new WeakMap<GPUCommandEncoder, GPUBuffer[]>();

/**
 * Records `program` into `encoder` (or into a fresh encoder submitted at once).
 *
 * @param gpu The GPU context.
 * @param program What to run.
 * @param bindings Storage buffers for bindings 1.. (0.. when there are no uniforms).
 * @param encoder Encoder to record into; submit it with {@linkcode submit}.
 *
 * @example Usage
 * ```ts ignore
 * const enc = gpu.device.createCommandEncoder();
 * dispatch(gpu, program, [input, output], enc);
 * submit(gpu, enc);
 * ```
 */
export function dispatch(
  gpu: Gpu,
  program: Program,
  bindings: Binding[],
  encoder?: GPUCommandEncoder,
): void {
  assertUsable(gpu);
  const { device } = gpu;
  const { uniforms, uniformStruct } = program;
  if (uniforms && uniforms.byteLength !== uniformStruct?.byteLength) {
    throw new TypeError(
      uniformStruct
        ? `Expected the uniforms of program ${program.shaderKey} to be ${uniformStruct.byteLength} bytes (its uniformStruct) but found ${uniforms.byteLength}`
        : `Expected program ${program.shaderKey} to declare the uniformStruct its uniforms were packed with`,
    );
  }
  const pipeline = getPipeline(
    device,
    program.shaderKey,
    () => checkedCode(program),
    program.constants,
  );
  const own = encoder === undefined;
  const enc = encoder ?? device.createCommandEncoder();
  const entries: GPUBindGroupEntry[] = [];
  if (program.uniforms) {
    const u = program.uniforms;
    const size = Math.max(16, Math.ceil(u.byteLength / 16) * 16);
    const ub = device.createBuffer({
      label: `${program.shaderKey}.uniforms`,
      size,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    new Uint8Array(ub.getMappedRange()).set(
      new Uint8Array(u.buffer, u.byteOffset, u.byteLength),
    );
    ub.unmap();
    entries.push({ binding: 0, resource: { buffer: ub } });
    let list = temps.get(enc);
    if (!list) temps.set(enc, list = []);
    list.push(ub);
  }
  const base = entries.length;
  bindings.forEach((b, i) => {
    const resource = b instanceof GPUBuffer ? { buffer: b } : b;
    entries.push({ binding: base + i, resource });
  });
  const bindGroup = device.createBindGroup({
    label: program.shaderKey,
    layout: pipeline.getBindGroupLayout(0),
    entries,
  });
  const timestampWrites = passTimestampWrites(enc);
  const pass = enc.beginComputePass(
    timestampWrites ? { label: program.shaderKey, timestampWrites } : { label: program.shaderKey },
  );
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bindGroup);
  const [x, y, z] = program.workgroups;
  if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
  pass.end();
  if (own) submit(gpu, enc);
}

/** The program's WGSL, checked against its declared workgroup size and uniform layout. */
function checkedCode(program: Program): string {
  const code = typeof program.code === "string" ? program.code : program.code();
  const want = program.workgroupSize;
  if (want !== undefined) {
    const m = /@workgroup_size\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?(?:,\s*(\d+)\s*)?\)/.exec(code);
    if (m) {
      const got = [Number(m[1]), Number(m[2] ?? 1), Number(m[3] ?? 1)];
      const exp = typeof want === "number" ? [want, 1, 1] : [...want];
      if (got.join(",") !== exp.join(",")) {
        throw new Error(
          `Program ${program.shaderKey} declares workgroup size ${exp.join("×")} but its WGSL has ${
            got.join("×")
          }`,
        );
      }
    }
  }
  if (program.uniformStruct) {
    const got = wgslUniformFields(code);
    const exp = Object.entries(program.uniformStruct.fields).map(([n, t]) => `${n}: ${t}`);
    if (got && got.join(", ") !== exp.join(", ")) {
      throw new Error(
        `Program ${program.shaderKey} packs uniforms { ${
          exp.join(", ")
        } } but its WGSL declares { ${got.join(", ")} }`,
      );
    }
  }
  return code;
}

/**
 * Workgroups for `count` invocations along x with `program.workgroupSize`, folded into y
 * above `max` (see {@linkcode foldDispatch}).
 *
 * @param program A program with `workgroupSize` (a number or [x, 1, 1]).
 * @param count Invocations needed.
 * @param max Largest dispatch per dimension.
 * @returns Workgroups along x, y, z.
 *
 * @example Usage
 * ```ts
 * import { workgroupsFor } from "./program.ts";
 * console.log(workgroupsFor({ workgroupSize: 64 }, 1000)); // [16, 1, 1]
 * ```
 */
export function workgroupsFor(
  program: Pick<Program, "workgroupSize">,
  count: number,
  max = 65535,
): [number, number, number] {
  const ws = program.workgroupSize;
  const x = typeof ws === "number" ? ws : ws ? ws[0] : 1;
  return foldDispatch(Math.ceil(count / x), max);
}

/**
 * Submits `encoder` and frees the uniform buffers recorded into it.
 *
 * @param gpu The GPU context.
 * @param encoder The encoder to finish and submit.
 *
 * @example Usage
 * ```ts ignore
 * submit(gpu, encoder);
 * ```
 */
export function submit(gpu: Gpu, encoder: GPUCommandEncoder): void {
  finishProfile(encoder);
  gpu.device.queue.submit([encoder.finish()]);
  for (const b of temps.get(encoder) ?? []) b.destroy();
  temps.delete(encoder);
}

/**
 * Splits `count` workgroups into an x × y grid with x at most `max` (65535 by default);
 * shaders recover the linear index as `wid.x + wid.y * nwg.x` and skip indices ≥ count.
 *
 * @param count Workgroups needed.
 * @param max Largest dispatch per dimension.
 * @returns Workgroups along x, y, z.
 *
 * @example Usage
 * ```ts
 * import { foldDispatch } from "./program.ts";
 * console.log(foldDispatch(100000)); // [50000, 2, 1]
 * ```
 */
export function foldDispatch(count: number, max = 65535): [number, number, number] {
  if (count <= max) return [count, 1, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y, 1];
}
