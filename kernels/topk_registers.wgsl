// Fused similarity + running top-k, "rows in registers" design (fastest on CPU adapters such
// as lavapipe, where every storage load is expensive): each invocation keeps R query rows of
// D4 vec4s in private memory, streams the keys of its split once (one key vec4 load feeds R
// dot products) and keeps a sorted top-k list per row directly in its partial output slot
// part[(split * nq + row) * k + t] (padded with (-FLT_MAX, 0xffffffff)), with the row's
// threshold in a register: insertions are rare, and large private arrays indexed dynamically
// made lavapipe's shader compile take minutes. QV (private vec4s) stays small for the same
// reason. Keys [first, first + count) of the chunk are split over workgroups along y.
// Queries and keys are row-major with rows padded to D4 vec4s (zeros past d).
struct Params {
  nq: u32,       // query rows in the bound buffer
  nkeys: u32,    // keys in the bound key chunk
  k: u32,        // list length, 1..KMAX
  key_base: u32, // global index of the chunk's first key
  span: u32,     // keys per split (workgroup y)
  d4: u32,       // vec4s per row, R * d4 <= QV
  first: u32,    // first key of this dispatch's range (within the chunk)
  count: u32,    // keys in this dispatch's range
}
override R: u32 = 1u;   // query rows per invocation, 1..RMAX, R * D4 <= QV
const RMAX = 8u;
const QV = 128u;
const NEG = -3.4028235e38;
const NONE = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> keys: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> part_s: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_i: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.x * 64u + lid) * R;
  if (row0 >= p.nq) { return; }
  let split = wid.y;
  let k = p.k;
  let D4 = p.d4;
  var qr: array<vec4<f32>, QV>;
  var thr: array<f32, RMAX>;
  for (var r = 0u; r < R; r++) {
    let row = min(row0 + r, p.nq - 1u);
    for (var c = 0u; c < D4; c++) { qr[r * D4 + c] = q[row * D4 + c]; }
    thr[r] = NEG;
    if (row0 + r < p.nq) {
      let o = (split * p.nq + row0 + r) * k;
      for (var t = 0u; t < k; t++) { part_s[o + t] = NEG; part_i[o + t] = NONE; }
    }
  }
  let j0 = p.first + split * p.span;
  let j1 = min(j0 + p.span, min(p.first + p.count, p.nkeys));
  for (var j = j0; j < j1; j++) {
    var acc: array<f32, RMAX>;
    for (var r = 0u; r < R; r++) { acc[r] = 0.0; } // explicit: loop-local vars are not re-zeroed
    let kb = j * D4;
    for (var c = 0u; c < D4; c++) {
      let kv = keys[kb + c];
      for (var r = 0u; r < R; r++) { acc[r] += dot(qr[r * D4 + c], kv); }
    }
    for (var r = 0u; r < R; r++) {
      let s = acc[r];
      if (s > thr[r] && row0 + r < p.nq) {
        // The row's list lives in its partial output slot; insertions are rare once the
        // threshold has risen. Keys arrive in increasing index order, so a strict
        // comparison keeps ties stable.
        let o = (split * p.nq + row0 + r) * k;
        var pos = k - 1u;
        while (pos > 0u && s > part_s[o + pos - 1u]) {
          part_s[o + pos] = part_s[o + pos - 1u];
          part_i[o + pos] = part_i[o + pos - 1u];
          pos--;
        }
        part_s[o + pos] = s;
        part_i[o + pos] = p.key_base + j;
        thr[r] = part_s[o + k - 1u];
      }
    }
  }
}
