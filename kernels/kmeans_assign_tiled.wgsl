// Fused nearest-centroid search with workgroup-memory tiles (the classic GPU design):
// a workgroup of 8 × 8 invocations owns 32 rows, loops over the centroids of the bound
// chunk 32 at a time, staging 32 × 16 slices of rows and centroids in workgroup memory;
// each invocation computes a 4 × 4 block of scores and keeps, for its 4 rows, the best
// over its centroid columns. The 8 column-invocations of a row are reduced at the end
// (higher score wins, ties go to the lower centroid index). Never stores n × k.
// Lines marked //@f32 and //@f16 select the storage format; accumulation is f32.
alias Packed = vec4<f32>; //@f32
//@f16 alias Packed = vec2<u32>;
fn unpack(v: Packed) -> vec4<f32> { return v; } //@f32
//@f16 fn unpack(v: Packed) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }
const TM: u32 = 32u;
const BK4: u32 = 4u; // vec4s per staged slice (16 floats)

struct Params { rows: u32, k: u32, kBase: u32, flags: u32, cnOff: u32, d4: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<storage, read> c: array<Packed>;
@group(0) @binding(3) var<storage, read> cn: array<f32>;
@group(0) @binding(4) var<storage, read_write> bestIdx: array<u32>;
@group(0) @binding(5) var<storage, read_write> bestScore: array<f32>;

var<workgroup> As: array<vec4<f32>, 128>; // TM rows × BK4
var<workgroup> Cs: array<vec4<f32>, 128>; // TM centroids × BK4
var<workgroup> redS: array<f32, 256>;     // 32 rows × 8 column groups
var<workgroup> redI: array<u32, 256>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wg = wid.x + wid.y * nwg.x;
  let rowBase = wg * TM;
  if (rowBase >= p.rows) { return; } // uniform per workgroup
  let spherical = (p.flags & 4u) != 0u;
  let lx = lid % 8u;
  let ly = lid / 8u;
  var best: array<f32, 4>;
  var bi: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) { best[i] = -3.40282347e38; bi[i] = 0xffffffffu; }
  for (var cb = 0u; cb < p.k; cb += TM) {
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }
    for (var kb = 0u; kb < p.d4; kb += BK4) {
      for (var t = 0u; t < 2u; t++) {
        let idx = lid + t * 64u;
        let rr = idx / BK4;
        let j = kb + idx % BK4;
        let row = rowBase + rr;
        var av = vec4<f32>(0.0);
        if (row < p.rows && j < p.d4) { av = unpack(x[row * p.d4 + j]); }
        As[idx] = av;
        let ci = cb + rr;
        var cv = vec4<f32>(0.0);
        if (ci < p.k && j < p.d4) { cv = unpack(c[ci * p.d4 + j]); }
        Cs[idx] = cv;
      }
      workgroupBarrier();
      for (var kk = 0u; kk < BK4; kk++) {
        let c0 = Cs[(lx * 4u + 0u) * BK4 + kk];
        let c1 = Cs[(lx * 4u + 1u) * BK4 + kk];
        let c2 = Cs[(lx * 4u + 2u) * BK4 + kk];
        let c3 = Cs[(lx * 4u + 3u) * BK4 + kk];
        for (var i = 0u; i < 4u; i++) {
          let av = As[(ly * 4u + i) * BK4 + kk];
          acc[i] += vec4<f32>(dot(av, c0), dot(av, c1), dot(av, c2), dot(av, c3));
        }
      }
      workgroupBarrier();
    }
    for (var jj = 0u; jj < 4u; jj++) {
      let ci = cb + lx * 4u + jj;
      if (ci < p.k) {
        let h = select(cn[p.cnOff + ci], 0.0, spherical);
        for (var i = 0u; i < 4u; i++) {
          let s = acc[i][jj] - h;
          if (s > best[i]) { best[i] = s; bi[i] = p.kBase + ci; }
        }
      }
    }
  }
  for (var i = 0u; i < 4u; i++) {
    redS[(ly * 4u + i) * 8u + lx] = best[i];
    redI[(ly * 4u + i) * 8u + lx] = bi[i];
  }
  workgroupBarrier();
  if (lid < TM) {
    let row = rowBase + lid;
    if (row < p.rows) {
      var bs = -3.40282347e38;
      var bx = 0xffffffffu;
      if ((p.flags & 1u) == 0u) { bs = bestScore[row]; bx = bestIdx[row]; }
      for (var g = 0u; g < 8u; g++) {
        let s = redS[lid * 8u + g];
        let ix = redI[lid * 8u + g];
        if (ix != 0xffffffffu && (s > bs || (s == bs && ix < bx))) { bs = s; bx = ix; }
      }
      if ((p.flags & 2u) != 0u && !spherical) {
        var xx = 0.0;
        for (var j = 0u; j < p.d4; j++) { let v = unpack(x[row * p.d4 + j]); xx += dot(v, v); }
        bs = max(0.0, xx - 2.0 * bs);
      }
      bestScore[row] = bs;
      bestIdx[row] = bx;
    }
  }
}
