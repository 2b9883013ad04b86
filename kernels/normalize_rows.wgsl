// Scales each row of a row-major rows × d float32 matrix to unit L2 norm, in place.
// All-zero rows stay zero. One invocation per row; rows beyond p.rows are skipped.
struct Params { rows: u32, d: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.d;
  var s = 0.0;
  for (var c = 0u; c < p.d; c++) { let v = x[base + c]; s += v * v; }
  if (s > 0.0) {
    let inv = inverseSqrt(s);
    for (var c = 0u; c < p.d; c++) { x[base + c] = x[base + c] * inv; }
  }
}
