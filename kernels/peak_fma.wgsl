// Register-only multiply-add loop for measuring an adapter's arithmetic peak.
// Each invocation keeps 2 independent 4-wide accumulators in registers and runs `iters`
// rounds of 8 × (acc = acc * b + c) on both: 2 × 8 × 4 × 2 = 128 flops per round, with
// no memory traffic inside the loop. The unrolled body and the uniform read once before
// the loop matter on CPU adapters (lavapipe), where a uniform load or a loop test per
// multiply-add costs as much as the arithmetic and more accumulators spill registers.
// The result is written out so that the loop cannot be removed. The host swaps the alias
// below for f16 (and prepends `enable f16;`) to measure packed half-precision arithmetic.
alias T = f32;

struct Params { iters: u32, invocations: u32, seed: f32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  // b slightly below 1 and c small keep every value near c / (1 - b) ≈ 1: no overflow,
  // no denormals. Both depend on runtime values, so the compiler cannot fold the loop.
  let s = p.seed + f32(i & 7u) * 0.001;
  let b = T(0.999 - 0.0001 * s);
  let c = T(0.001 * s);
  var a0 = vec4<T>(T(s), T(s + 0.1), T(s + 0.2), T(s + 0.3));
  var a1 = a0 + vec4<T>(T(0.05));
  let n = p.iters;
  for (var t = 0u; t < n; t++) {
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
    a0 = a0 * b + c;
    a1 = a1 * b + c;
  }
  let v = a0 + a1;
  if (i < p.invocations) {
    out[i] = f32(v.x) + f32(v.y) + f32(v.z) + f32(v.w);
  }
}
