// Fused similarity + running top-k, workgroup-memory tiles (the design for real GPUs):
// a workgroup of 256 invocations computes 64 query rows × 64 keys per step, staging
// 64 × 16 slices of both in workgroup memory (4 × 4 outputs per invocation), writes the
// 64 × 64 score tile to workgroup memory, and then invocation t (row t / 4, lane t % 4)
// folds keys lane, lane + 4, ... of the tile into its own sorted top-k list. Each row thus
// ends with 4 sub-lists per split: part[((split * 4 + lane) * nq + row) * k + t].
// Queries and keys are row-major with rows padded to d4 vec4s (zeros past d).
struct Params {
  nq: u32,       // query rows in the bound buffer
  nkeys: u32,    // keys in the bound key chunk
  k: u32,        // list length, 1..KMAX
  key_base: u32, // global index of the chunk's first key
  span: u32,     // keys per split (workgroup y)
  d4: u32,       // vec4s per row
  first: u32,    // first key of this dispatch's range (within the chunk)
  count: u32,    // keys in this dispatch's range
}
const KMAX = 64u;
const NEG = -3.4028235e38;
const NONE = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> keys: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part_s: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_i: array<u32>;

var<workgroup> a_tile: array<vec4<f32>, 256>; // 64 rows × 4 vec4
var<workgroup> b_tile: array<vec4<f32>, 256>; // 64 keys × 4 vec4
var<workgroup> s_tile: array<f32, 4096>;      // 64 rows × 64 keys

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let row_base = wid.x * 64u;
  let split = wid.y;
  let k = p.k;
  let d4 = p.d4;
  let tx = t % 16u;  // GEMM: keys tx + 16 j
  let ty = t / 16u;  // GEMM: rows ty + 16 i
  let my_row = t / 4u; // top-k: row of this invocation's list
  let lane = t % 4u;   // top-k: keys lane + 4 m of each tile
  let ld_r = t / 4u;   // tile loads: row / key t / 4, vec4 t % 4
  let ld_v = t % 4u;
  var ts: array<f32, KMAX>;
  var ti: array<u32, KMAX>;
  for (var x = 0u; x < k; x++) { ts[x] = NEG; ti[x] = NONE; }
  var thr = NEG;
  let j0 = p.first + split * p.span;
  let j1 = min(j0 + p.span, min(p.first + p.count, p.nkeys));
  let a_row = row_base + ld_r;
  for (var kt = j0; kt < j1; kt += 64u) {
    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) { acc[i] = array<f32, 4>(0.0, 0.0, 0.0, 0.0); } // explicit: loop-local vars are not re-zeroed
    let b_key = kt + ld_r;
    for (var c0 = 0u; c0 < d4; c0 += 4u) {
      let c = c0 + ld_v;
      var av = vec4<f32>(0.0);
      var bv = vec4<f32>(0.0);
      if (a_row < p.nq && c < d4) { av = q[a_row * d4 + c]; }
      if (b_key < j1 && c < d4) { bv = keys[b_key * d4 + c]; }
      a_tile[t] = av;
      b_tile[t] = bv;
      workgroupBarrier();
      for (var v = 0u; v < 4u; v++) {
        var a: array<vec4<f32>, 4>;
        var b: array<vec4<f32>, 4>;
        for (var i = 0u; i < 4u; i++) { a[i] = a_tile[(ty + 16u * i) * 4u + v]; }
        for (var j = 0u; j < 4u; j++) { b[j] = b_tile[(tx + 16u * j) * 4u + v]; }
        for (var i = 0u; i < 4u; i++) {
          for (var j = 0u; j < 4u; j++) { acc[i][j] += dot(a[i], b[j]); }
        }
      }
      workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
      for (var j = 0u; j < 4u; j++) { s_tile[(ty + 16u * i) * 64u + tx + 16u * j] = acc[i][j]; }
    }
    workgroupBarrier();
    for (var m = 0u; m < 16u; m++) {
      let col = lane + 4u * m;
      let key = kt + col;
      let s = s_tile[my_row * 64u + col];
      if (key < j1 && s > thr) {
        var pos = k - 1u;
        while (pos > 0u && s > ts[pos - 1u]) {
          ts[pos] = ts[pos - 1u];
          ti[pos] = ti[pos - 1u];
          pos--;
        }
        ts[pos] = s;
        ti[pos] = p.key_base + key;
        thr = ts[k - 1u];
      }
    }
    workgroupBarrier();
  }
  let row = row_base + my_row;
  if (row < p.nq) {
    let o = ((split * 4u + lane) * p.nq + row) * k;
    for (var x = 0u; x < k; x++) {
      part_s[o + x] = ts[x];
      part_i[o + x] = ti[x];
    }
  }
}
