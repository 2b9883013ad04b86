// Fused similarity + running top-k, "rows in registers" (the design for CPU adapters such
// as lavapipe; same layout as kernels/kmeans_assign_registers.wgsl): each invocation holds R
// query rows, fully unrolled over their D4 vec4s, and streams one block of keys from a
// UNIFORM binding (the host binds 64 KiB blocks in order), scoring R rows per key vec4.
// Each row's sorted list (length k, best first) lives in the running state
// ls/li[row * k + t], with the row's k-th score in a register as the insertion threshold:
// insertions get rare once the threshold has risen. The first block of a search clears the
// lists to (-FLT_MAX, 0xffffffff). Keys arrive in increasing index order and comparisons are
// strict, so ties keep the lower index.
// llvmpipe ends every loop of a shader invocation after 65535 iterations in total (all loops
// together, LP_MAX_TGSI_LOOP_ITERATIONS), silently: the host bounds the keys per dispatch so
// that even an insertion at every key (≤ 1 + R·k iterations each) stays below that.
// The host expands this template (src/gpu/template.ts `specialize`): a line ending in
// //@r is repeated for r in [0, R), //@j for j in [0, D4), //@jr / //@rj for every (j, r).
// Rows wider than one slice (src/gpu/register_slices.ts) are walked in slices, one dispatch per
// slice: tag `whole` holds whole rows (the kernel above); tag `s` holds a slice of D4 vec4s of
// each row (from vec4 p.sOff of rows of p.dx vec4s) and streams that slice of the block's keys
// from a slice window (KB keys of D4 vec4s). The partial dot products go to `part`, PH vec4s
// per invocation and key holding its R rows' sums (the host expands PARTIAL_READ /
// PARTIAL_WRITE into those loads and stores): tag `wr` writes them (every slice but the
// last), `rd` starts each sum from them (every slice but the first), so each score is the
// same chain of f32 additions as the whole kernel's. Tag `fin` (the whole kernel, the last
// slice) keeps the lists.
const R: u32 = 4u;
const D4: u32 = 32u;
const CU: u32 = 4096u; // keys per block × D4, at most 64 KiB
const PH: u32 = 2u; // sliced: vec4s of partial sums per invocation and key/centroid, ceil(R / 4)
const KB: u32 = 256u; // sliced: keys per slice window (the stride of a row's partials)
const NEG = -3.4028235e38;
const NONE = 0xffffffffu;

//@if:whole
struct Params {
  rowBase: u32, // first query row (within the bound chunk) of this dispatch
  rowEnd: u32,  // one past its last row
  k: u32,       // list length, 1..64
  keyBase: u32, // global index of the block's first key
  nkeys: u32,   // keys of the block this dispatch scores, from keyOff
  first: u32,   // 1: first block of the search, clear the lists
  keyOff: u32,  // first key (within the block) this dispatch scores
  _p1: u32,
}
//@end
//@if:s
struct Params {
  rowBase: u32, rowEnd: u32, k: u32, keyBase: u32, nkeys: u32, first: u32, keyOff: u32,
  sOff: u32, // first vec4 of the slice in a row
  dx: u32,   // vec4s per row
  _p1: u32, _p2: u32, _p3: u32,
}
//@end
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> keys: array<vec4<f32>, CU>;
//@t:whole @group(0) @binding(3) var<storage, read_write> ls: array<f32>;
//@t:whole @group(0) @binding(4) var<storage, read_write> li: array<u32>;
//@t:s @group(0) @binding(3) var<storage, read_write> part: array<vec4<f32>>; // see PARTIAL_READ
//@t:last @group(0) @binding(4) var<storage, read_write> ls: array<f32>;
//@t:last @group(0) @binding(5) var<storage, read_write> li: array<u32>;

//@if:fin
// Inserts (s, key) into the sorted list at `o`; returns the list's new k-th score.
fn insert(o: u32, s: f32, key: u32) -> f32 {
  let k = p.k;
  var pos = k - 1u;
  while (pos > 0u && s > ls[o + pos - 1u]) {
    ls[o + pos] = ls[o + pos - 1u];
    li[o + pos] = li[o + pos - 1u];
    pos--;
  }
  ls[o + pos] = s;
  li[o + pos] = key;
  return ls[o + k - 1u];
}
//@end

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r0 = p.rowBase + ((wid.x + wid.y * nwg.x) * 64u + lid) * R;
  if (r0 >= p.rowEnd) { return; }
  let lastRow = p.rowEnd - 1u;
  let row{r} = min(r0 + {r}u, lastRow); //@r
  //@t:whole let a{r}_{j} = q[row{r} * D4 + {j}u]; //@rj
  //@t:s let pv = ((r0 - p.rowBase) / R) * KB * PH;
  //@t:s let a{r}_{j} = q[row{r} * p.dx + p.sOff + {j}u]; //@rj
//@if:fin
  // Rows past the end duplicate the last row; a threshold of +FLT_MAX keeps them out.
  var thr{r} = 3.4028235e38; //@r
  if (r0 + {r}u < p.rowEnd) { if (p.first != 0u) { for (var t = 0u; t < p.k; t++) { ls[row{r} * p.k + t] = NEG; li[row{r} * p.k + t] = NONE; } thr{r} = NEG; } else { thr{r} = ls[row{r} * p.k + p.k - 1u]; } } //@r
//@end
  for (var cc = p.keyOff; cc < p.keyOff + p.nkeys; cc++) {
    let cb = cc * D4;
    var acc{r} = 0.0; //@r
    //@t:rd PARTIAL_READ
    let c{j} = keys[cb + {j}u]; //@j
    acc{r} += dot(a{r}_{j}, c{j}); //@jr
    //@t:wr PARTIAL_WRITE
    //@t:fin if (acc{r} > thr{r}) { let o = row{r} * p.k; var pos = p.k - 1u; while (pos > 0u && acc{r} > ls[o + pos - 1u]) { ls[o + pos] = ls[o + pos - 1u]; li[o + pos] = li[o + pos - 1u]; pos--; } ls[o + pos] = acc{r}; li[o + pos] = p.keyBase + cc; thr{r} = ls[o + p.k - 1u]; } //@r
  }
}
