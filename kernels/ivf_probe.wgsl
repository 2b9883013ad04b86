// IVF probe: each row's `np` best cells (a running sorted list per row), "rows in registers"
// like kernels/topk_registers.wgsl: each invocation holds R rows, fully unrolled over their
// D4 vec4s, and streams one block of cell centers from a UNIFORM binding (the host binds
// 64 KiB blocks in order). Score = dot(row, cell) − bias[cell]: the bias is 0.5‖cell‖² for
// l2 (nearest cell by distance), 0 for cosine / inner product, and +Inf for a cell to skip
// (an empty cell), which then never enters a list. Lists live in ls/li[(outBase + i) * np + t],
// best first; the first block of a search clears them to (-FLT_MAX, 0xffffffff). Cells arrive
// in increasing index order and comparisons are strict, so ties keep the lower cell index.
// The host bounds the keys per dispatch so that even an insertion at every key stays below
// llvmpipe's 65535 loop iterations per invocation.
// Template (src/gpu/_template.ts `specialize`): //@r repeats for r in [0, R), //@j for j in
// [0, D4), //@rj for both; //@t:f32 rows are vec4<f32>, //@t:v2 rows are four f16 halves
// packed in a vec2<u32>. Accumulation is f32.
//@t:f32 alias Packed = vec4<f32>;
//@t:v2 alias Packed = vec2<u32>;
const R: u32 = 4u;
const D4: u32 = 32u;
const CU: u32 = 4096u; // cells per block × D4, at most 64 KiB
const NEG = -3.40282347e38;
const NONE = 0xffffffffu;

struct Params {
  rowBase: u32, // first row (within the bound buffer) of this dispatch
  rows: u32,    // rows of this dispatch
  np: u32,      // list length
  keyBase: u32, // global index of the block's first cell
  nkeys: u32,   // cells of the block this dispatch scores, from keyOff
  keyOff: u32,  // first cell (within the block) this dispatch scores
  first: u32,   // 1: first block of the search, clear the lists
  outBase: u32, // list of row i is list outBase + i
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<uniform> keys: array<vec4<f32>, CU>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> ls: array<f32>;
@group(0) @binding(5) var<storage, read_write> li: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i0 = ((wid.x + wid.y * nwg.x) * 64u + lid) * R;
  if (i0 >= p.rows) { return; }
  let lastRow = p.rows - 1u;
  let row{r} = p.rowBase + min(i0 + {r}u, lastRow); //@r
  //@t:f32 let a{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let q{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let a{r}_{j} = vec4<f32>(unpack2x16float(q{r}_{j}.x), unpack2x16float(q{r}_{j}.y)); //@rj
  // Rows past the end duplicate the last row; a threshold of +FLT_MAX keeps them out.
  var thr{r} = 3.40282347e38; //@r
  if (i0 + {r}u < p.rows) { let o = (p.outBase + i0 + {r}u) * p.np; if (p.first != 0u) { for (var t = 0u; t < p.np; t++) { ls[o + t] = NEG; li[o + t] = NONE; } thr{r} = NEG; } else { thr{r} = ls[o + p.np - 1u]; } } //@r
  for (var cc = p.keyOff; cc < p.keyOff + p.nkeys; cc++) {
    let cb = cc * D4;
    let h = bias[p.keyBase + cc];
    var acc{r} = 0.0; //@r
    let c{j} = keys[cb + {j}u]; //@j
    acc{r} += dot(a{r}_{j}, c{j}); //@jr
    let s{r} = acc{r} - h; //@r
    if (s{r} > thr{r}) { let o = (p.outBase + i0 + {r}u) * p.np; var pos = p.np - 1u; while (pos > 0u && s{r} > ls[o + pos - 1u]) { ls[o + pos] = ls[o + pos - 1u]; li[o + pos] = li[o + pos - 1u]; pos--; } ls[o + pos] = s{r}; li[o + pos] = p.keyBase + cc; thr{r} = ls[o + p.np - 1u]; } //@r
  }
}
