// MLCD loss backward: maps the gradient g with respect to a normalised row x̂ (both
// zero-padded to dp columns) to the raw row x through the L2-normalisation Jacobian,
// out = (g − (g · x̂) x̂) / ‖x‖, written unpadded (d columns). One invocation per row;
// invNorm is 0 for all-zero rows, whose gradient is then zero.
struct Params { rows: u32, d: u32, dp: u32, _p0: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xhat: array<f32>;
@group(0) @binding(2) var<storage, read> invNorm: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let base = row * p.dp;
  var dot = 0.0;
  for (var c = 0u; c < p.d; c++) { dot += g[base + c] * xhat[base + c]; }
  let inv = invNorm[row];
  let ob = row * p.d;
  for (var c = 0u; c < p.d; c++) { out[ob + c] = (g[base + c] - dot * xhat[base + c]) * inv; }
}
