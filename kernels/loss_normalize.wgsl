// MLCD loss: writes the L2-normalised copy of a rows × d float32 matrix, zero-padded to
// dp columns (a multiple of 4, for vec4 loads), and each row's inverse norm (0 for an
// all-zero row, whose normalised copy stays zero and whose gradient is zero).
// One invocation per row.
struct Params { rows: u32, d: u32, dp: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> xhat: array<f32>;
@group(0) @binding(3) var<storage, read_write> invNorm: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  let out = row * p.dp;
  var s = 0.0;
  for (var c = 0u; c < p.d; c++) { let v = x[base + c]; s += v * v; }
  var inv = 0.0;
  if (s > 0.0) { inv = 1.0 / sqrt(s); }
  for (var c = 0u; c < p.d; c++) { xhat[out + c] = x[base + c] * inv; }
  for (var c = p.d; c < p.dp; c++) { xhat[out + c] = 0.0; }
  invNorm[row] = inv;
}
