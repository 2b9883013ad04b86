// The coarse cells of an IVF center index: a few Lloyd iterations over (a sample of) the
// centers, on the GPU. Rows are f32, `d4` vec4s each.
//   gather: dst row s = src row (idx[s] − srcBase) for the s whose idx falls in this source
//           chunk [srcBase, srcBase + srcRows) (the sample of centers, the initial cells);
//   sum:    cell c, vec4 j = mean over the cell's members (order[off[c]..off[c+1]), in
//           order, so the sums are deterministic) of their vec4 j; empty cells keep theirs;
//   finish: per cell, normalise (flags bit 0, cosine) and write the probe bias: 0.5‖cell‖²
//           (bit 1, l2) or 0, and +Inf for an empty cell (bit 2: probes skip empty cells);
//   norms:  cn[i] = 0.5‖row i‖² of `count` rows (a center store made on the GPU).
struct Params { count: u32, d4: u32, srcBase: u32, srcRows: u32, flags: u32 }
@group(0) @binding(0) var<uniform> p: Params;
//@if:gather
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (t >= p.count * p.d4) { return; }
  let s = t / p.d4;
  let j = t % p.d4;
  let i = idx[s];
  if (i < p.srcBase || i >= p.srcBase + p.srcRows) { return; }
  dst[s * p.d4 + j] = src[(i - p.srcBase) * p.d4 + j];
}
//@end
//@if:sum
@group(0) @binding(1) var<storage, read> off: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read> rows: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> cells: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let t = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (t >= p.count * p.d4) { return; }
  let c = t / p.d4;
  let j = t % p.d4;
  let a = off[c];
  let b = off[c + 1u];
  if (b == a) { return; }
  var v = vec4<f32>(0.0);
  for (var q = a; q < b; q++) { v += rows[order[q] * p.d4 + j]; }
  cells[c * p.d4 + j] = v / f32(b - a);
}
//@end
//@if:finish
@group(0) @binding(1) var<storage, read> off: array<u32>;
@group(0) @binding(2) var<storage, read_write> cells: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> bias: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (c >= p.count) { return; }
  var s = 0.0;
  for (var j = 0u; j < p.d4; j++) { let v = cells[c * p.d4 + j]; s += dot(v, v); }
  if ((p.flags & 1u) != 0u && s > 0.0) {
    let inv = 1.0 / sqrt(s);
    s = 0.0;
    for (var j = 0u; j < p.d4; j++) {
      let v = cells[c * p.d4 + j] * inv;
      cells[c * p.d4 + j] = v;
      s += dot(v, v);
    }
  }
  var h = select(0.0, 0.5 * s, (p.flags & 2u) != 0u);
  if ((p.flags & 4u) != 0u && off[c + 1u] == off[c]) { h = bitcast<f32>(0x7f800000u); }
  bias[c] = h;
}
//@end
//@if:norms
@group(0) @binding(1) var<storage, read> rows: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> cn: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.count) { return; }
  var s = 0.0;
  for (var j = 0u; j < p.d4; j++) { let v = rows[i * p.d4 + j]; s += dot(v, v); }
  cn[i] = 0.5 * s;
}
//@end
