// Linear probe, the gradient and one Adam step of the parameters of a mini-batch. Row c of
// the parameters holds class c's d4 weight vec4s, then its bias as vec4 d4 (component 0; the
// others stay 0), so the bias is the weight of a constant feature 1. One invocation per
// (vec4 j of a row, block of 16 classes from block cbOff):
//   grad[c, j] = Σ_r x[idx[idxOff + r], j] · g[r, c] (+ l2x2 · w[c, j] for weights)
// over the batch's rows r (g from probe_rows.wgsl), then
//   m ← b1·m + (1 − b1)·grad,  v ← b2·v + (1 − b2)·grad²,
//   w ← w − lr · (m / bc1) / (sqrt(v / bc2) + eps).
// The loop over the batch stays under llvmpipe's 65,535-iteration cap (the batch is checked).
struct Params {
  Cp: u32,
  d4: u32,
  cbOff: u32,
  cbCount: u32,
  batch: u32,
  idxOff: u32,
  lr: f32,
  l2x2: f32,
  b1: f32,
  oneMinusB1: f32,
  b2: f32,
  oneMinusB2: f32,
  bc1: f32,
  bc2: f32,
  eps: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> v: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  let ws = p.d4 + 1u;
  if (i >= ws * p.cbCount) { return; }
  let j = i % ws;
  let c0 = (p.cbOff + i / ws) * 16u;
  let g4 = p.Cp / 4u;
  let gc = c0 / 4u;
  var acc: array<vec4<f32>, 16>; // acc[k]: the gradient of class c0 + k at vec4 j
  for (var r = 0u; r < p.batch; r = r + 1u) {
    var xv = vec4<f32>(1.0, 0.0, 0.0, 0.0); // the bias' constant feature
    if (j < p.d4) { xv = x[idx[p.idxOff + r] * p.d4 + j]; }
    let gb = r * g4 + gc;
    let ga = g[gb];
    let gb1 = g[gb + 1u];
    let gb2 = g[gb + 2u];
    let gb3 = g[gb + 3u];
    acc[0] = acc[0] + xv * ga.x;
    acc[1] = acc[1] + xv * ga.y;
    acc[2] = acc[2] + xv * ga.z;
    acc[3] = acc[3] + xv * ga.w;
    acc[4] = acc[4] + xv * gb1.x;
    acc[5] = acc[5] + xv * gb1.y;
    acc[6] = acc[6] + xv * gb1.z;
    acc[7] = acc[7] + xv * gb1.w;
    acc[8] = acc[8] + xv * gb2.x;
    acc[9] = acc[9] + xv * gb2.y;
    acc[10] = acc[10] + xv * gb2.z;
    acc[11] = acc[11] + xv * gb2.w;
    acc[12] = acc[12] + xv * gb3.x;
    acc[13] = acc[13] + xv * gb3.y;
    acc[14] = acc[14] + xv * gb3.z;
    acc[15] = acc[15] + xv * gb3.w;
  }
  for (var k = 0u; k < 16u; k = k + 1u) {
    let e = (c0 + k) * ws + j;
    var grad = acc[k];
    if (j < p.d4) { grad = grad + w[e] * p.l2x2; }
    let m1 = m[e] * p.b1 + grad * p.oneMinusB1;
    let v1 = v[e] * p.b2 + grad * grad * p.oneMinusB2;
    m[e] = m1;
    v[e] = v1;
    w[e] = w[e] - (m1 / p.bc1) / (sqrt(v1 / p.bc2) + p.eps) * p.lr;
  }
}
