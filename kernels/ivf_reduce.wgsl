// IVF reduce: each row's np probe results into its answer (one invocation per batch row).
//   prev: (with a previous assignment in outIdx) scores the row against that center, read
//         from the center store chunk [kBase, kBase + kRows) that holds it, into prevS/prevI
//         (-FLT_MAX / 0xffffffff when absent; `state` = 0 on the first chunk clears them);
//         the same sum in the same order as the scoring kernel, so the same bits;
//   top1: the best (score, center) over the row's probes that found a cell and its previous
//         center (ties go to the lower center index, as in the exact kernel), written to
//         idx/score[rowBase + i];
//         for l2 the score becomes the squared distance max(0, ‖x‖² − 2·best), ‖x‖² summed
//         over the row's units in the exact kernel's order (tags f32, v2, v4 as there).
//   topk: merges the row's sorted lists lo..hi-1 (of its np, k each, holding grouped
//         positions, mapped to center indices through cinfo) into its k best (score
//         descending, then index ascending) at outS/outI[(rowBase + i) * k + t], which hold
//         the lists merged so far when state != 0 (the host merges in passes of few lists,
//         so that the insertions stay within llvmpipe's 65535 loop iterations).
//@t:f32 alias Packed = vec4<f32>;
//@t:v2 alias Packed = vec2<u32>;
//@t:v4 alias Packed = vec4<u32>;
const NEG = -3.40282347e38;
const NONE = 0xffffffffu;
const KMAX = 64u;
struct Params { rows: u32, rowBase: u32, np: u32, k: u32, d4: u32, l2: u32, lo: u32, hi: u32, state: u32, kBase: u32, kRows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
//@if:prev
//@t:f32 alias Cent = vec4<f32>;
//@t:v2 alias Cent = vec4<f32>;
//@t:v4 alias Cent = vec4<u32>;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<storage, read> outIdx: array<u32>;
@group(0) @binding(3) var<storage, read> cents: array<Cent>;
@group(0) @binding(4) var<storage, read> cn: array<f32>;
@group(0) @binding(5) var<storage, read_write> prevS: array<f32>;
@group(0) @binding(6) var<storage, read_write> prevI: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.rows) { return; }
  if (p.state == 0u) { prevS[i] = NEG; prevI[i] = NONE; }
  let row = p.rowBase + i;
  let c = outIdx[row];
  if (c < p.kBase || c >= p.kBase + p.kRows) { return; }
  let cb = (c - p.kBase) * p.d4;
  var acc = 0.0;
  for (var j = 0u; j < p.d4; j++) {
    let q = x[row * p.d4 + j];
    let u = cents[cb + j];
    //@t:f32 acc += dot(q, u);
    //@t:v2 acc += dot(vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)), u);
    //@t:v4 acc += dot(vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)), vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y))) + dot(vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)), vec4<f32>(unpack2x16float(u.z), unpack2x16float(u.w)));
  }
  if (p.l2 != 0u) { acc = acc - cn[c - p.kBase]; }
  prevS[i] = acc;
  prevI[i] = c;
}
//@end
//@if:top1
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<storage, read> probe: array<u32>;
@group(0) @binding(3) var<storage, read> bs: array<f32>;
@group(0) @binding(4) var<storage, read> bi: array<u32>;
@group(0) @binding(5) var<storage, read_write> outIdx: array<u32>;
@group(0) @binding(6) var<storage, read_write> outScore: array<f32>;
@group(0) @binding(7) var<storage, read> prevS: array<f32>;
@group(0) @binding(8) var<storage, read> prevI: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.rows) { return; }
  var best = NEG;
  var idx = NONE;
  for (var t = 0u; t < p.np; t++) {
    let e = i * p.np + t;
    if (probe[e] == NONE) { continue; }
    let s = bs[e];
    let j = bi[e];
    if (j != NONE && (s > best || (s == best && j < idx))) { best = s; idx = j; }
  }
  if (p.state != 0u) {
    let s = prevS[i];
    let j = prevI[i];
    if (j != NONE && (s > best || (s == best && j < idx))) { best = s; idx = j; }
  }
  let row = p.rowBase + i;
  if (p.l2 != 0u) {
    var xx = 0.0;
    for (var j = 0u; j < p.d4; j++) {
      let q = x[row * p.d4 + j];
      //@t:f32 xx += dot(q, q);
      //@t:v2 let a = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
      //@t:v2 xx += dot(a, a);
      //@t:v4 let a = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y));
      //@t:v4 let b = vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w));
      //@t:v4 xx += dot(a, a) + dot(b, b);
    }
    best = max(0.0, xx - 2.0 * best);
  }
  outIdx[row] = idx;
  outScore[row] = best;
}
//@end
//@if:topk
@group(0) @binding(1) var<storage, read> probe: array<u32>;
@group(0) @binding(2) var<storage, read> bs: array<f32>;
@group(0) @binding(3) var<storage, read> bi: array<u32>;
@group(0) @binding(4) var<storage, read_write> outS: array<f32>;
@group(0) @binding(5) var<storage, read_write> outI: array<u32>;
@group(0) @binding(6) var<storage, read> cinfo: array<vec2<u32>>;
fn better(s: f32, i: u32, s2: f32, i2: u32) -> bool { return s > s2 || (s == s2 && i < i2); }
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.rows) { return; }
  let k = p.k;
  let o = (p.rowBase + i) * k;
  var ts: array<f32, KMAX>;
  var ti: array<u32, KMAX>;
  for (var t = 0u; t < k; t++) {
    if (p.state != 0u) { ts[t] = outS[o + t]; ti[t] = outI[o + t]; } else { ts[t] = NEG; ti[t] = NONE; }
  }
  for (var l = p.lo; l < p.hi; l++) {
    let e = i * p.np + l;
    if (probe[e] == NONE) { continue; }
    for (var t = 0u; t < k; t++) {
      let s = bs[e * k + t];
      let g = bi[e * k + t];
      if (g == NONE) { break; }
      let j = cinfo[g].y;
      // Each list is sorted: once an entry misses the cut, the rest of the list does too.
      if (!better(s, j, ts[k - 1u], ti[k - 1u])) { break; }
      var pos = k - 1u;
      while (pos > 0u && better(s, j, ts[pos - 1u], ti[pos - 1u])) {
        ts[pos] = ts[pos - 1u];
        ti[pos] = ti[pos - 1u];
        pos--;
      }
      ts[pos] = s;
      ti[pos] = j;
    }
  }
  for (var t = 0u; t < k; t++) { outS[o + t] = ts[t]; outI[o + t] = ti[t]; }
}
//@end
