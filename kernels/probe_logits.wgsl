// Linear probe, logits of a block of rows: out[r, c] = Σ_j x[row, j] · w[c, j] + w[c, d]
// for r in [0, rows) and c in [0, Cp), where row = idx[idxOff + r] (gather: a mini-batch in
// the epoch's order) or rowStart + r. Rows of x are zero-padded to d4 vec4s; row c of the
// parameters holds class c's d4 weight vec4s, then its bias (component 0 of one more vec4);
// classes are padded to Cp, a multiple of 16, with zero parameters.
// One invocation per 4 rows × 16 classes: each vec4 of the 4 rows is loaded once and dotted
// with 16 classes' weights (lavapipe pays per load, not per multiply-add); the 16 classes are
// unrolled, so only the loop over d4 counts towards llvmpipe's 65,535-iteration cap.
struct Params {
  rows: u32,
  Cp: u32,
  d4: u32,
  idxOff: u32,
  rowStart: u32,
  gather: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn rowOf(r: u32) -> u32 {
  let rr = min(r, p.rows - 1u); // past the end: recompute the last row, store nothing
  if (p.gather != 0u) { return idx[p.idxOff + rr]; }
  return p.rowStart + rr;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  let blocks = p.Cp / 16u;
  let rowBlocks = (p.rows + 3u) / 4u;
  if (i >= rowBlocks * blocks) { return; }
  let r0 = (i / blocks) * 4u;
  let c0 = (i % blocks) * 16u;
  let b0 = rowOf(r0) * p.d4;
  let b1 = rowOf(r0 + 1u) * p.d4;
  let b2 = rowOf(r0 + 2u) * p.d4;
  let b3 = rowOf(r0 + 3u) * p.d4;
  let ws = p.d4 + 1u;
  var acc: array<vec4<f32>, 16>; // acc[k][q]: row r0 + q, class c0 + k
  for (var j = 0u; j < p.d4; j = j + 1u) {
    let x0 = x[b0 + j];
    let x1 = x[b1 + j];
    let x2 = x[b2 + j];
    let x3 = x[b3 + j];
    var wk: vec4<f32>;
    let wj = c0 * ws + j;
    wk = w[wj];
    acc[0] = acc[0] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 1u * ws];
    acc[1] = acc[1] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 2u * ws];
    acc[2] = acc[2] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 3u * ws];
    acc[3] = acc[3] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 4u * ws];
    acc[4] = acc[4] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 5u * ws];
    acc[5] = acc[5] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 6u * ws];
    acc[6] = acc[6] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 7u * ws];
    acc[7] = acc[7] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 8u * ws];
    acc[8] = acc[8] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 9u * ws];
    acc[9] = acc[9] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 10u * ws];
    acc[10] = acc[10] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 11u * ws];
    acc[11] = acc[11] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 12u * ws];
    acc[12] = acc[12] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 13u * ws];
    acc[13] = acc[13] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 14u * ws];
    acc[14] = acc[14] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
    wk = w[wj + 15u * ws];
    acc[15] = acc[15] + vec4<f32>(dot(x0, wk), dot(x1, wk), dot(x2, wk), dot(x3, wk));
  }
  for (var k = 0u; k < 16u; k = k + 1u) {
    let bias = w[(c0 + k) * ws + p.d4].x;
    for (var q = 0u; q < 4u; q = q + 1u) {
      if (r0 + q < p.rows) { out[(r0 + q) * p.Cp + c0 + k] = acc[k][q] + bias; }
    }
  }
}
