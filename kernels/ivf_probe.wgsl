// IVF probe: each row's `np` best cells, "rows in registers" like
// kernels/topk_registers.wgsl: each invocation holds R rows, fully unrolled over their D4
// vec4s, and streams one block of cell centers from a UNIFORM binding (the host binds 64 KiB
// blocks in order). Score = dot(row, cell) − bias[cell]: the bias is 0.5‖cell‖² for l2
// (nearest cell by distance), 0 for cosine / inner product, and +Inf for a cell to skip (an
// empty cell), which then never enters a list. Each row's sorted list (NP entries, best
// first) is kept in registers, updated by an unrolled compare-and-swap pass (no loop, no
// memory traffic, no divergent shifting: on lavapipe one lane's insertion costs all eight
// lanes), and read from / written to ls/li[(outBase + i) * NP + t] once per dispatch; the
// first block of a search starts from (-FLT_MAX, 0xffffffff). Cells arrive in increasing
// index order and comparisons are strict, so ties keep the lower cell index.
// Template (src/gpu/_template.ts `specialize`, after src/ivf/_programs.ts `expandLists` has
// repeated the //@rp lines over r in [0, R) and t in [0, NP), each <<...>> over t, and set
// {L} = NP − 1): //@r repeats for r in [0, R), //@j for j in
// [0, D4), //@rj for both; //@t:f32 rows are vec4<f32>, //@t:v2 rows are four f16 halves
// packed in a vec2<u32>. Accumulation is f32.
//@t:f32 alias Packed = vec4<f32>;
//@t:v2 alias Packed = vec2<u32>;
const R: u32 = 4u;
const D4: u32 = 32u;
const CU: u32 = 4096u; // cells per block × D4, at most 64 KiB
const NP: u32 = 8u;    // list length
const NEG = -3.40282347e38;
const NONE = 0xffffffffu;

struct Params {
  rowBase: u32, // first row (within the bound buffer) of this dispatch
  rows: u32,    // rows of this dispatch
  keyBase: u32, // global index of the block's first cell
  nkeys: u32,   // cells of the block this dispatch scores
  first: u32,   // 1: first block of the search, start the lists
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
  let o{r} = (p.outBase + min(i0 + {r}u, lastRow)) * NP; //@r
  //@t:f32 let a{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let q{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let a{r}_{j} = vec4<f32>(unpack2x16float(q{r}_{j}.x), unpack2x16float(q{r}_{j}.y)); //@rj
  var s{r}_{t} = NEG; //@rp
  var c{r}_{t} = NONE; //@rp
  if (p.first == 0u) { s{r}_{t} = ls[o{r} + {t}u]; c{r}_{t} = li[o{r} + {t}u]; } //@rp
  for (var cc = 0u; cc < p.nkeys; cc++) {
    let cb = cc * D4;
    let h = bias[p.keyBase + cc];
    let key = p.keyBase + cc;
    var acc{r} = 0.0; //@r
    let k{j} = keys[cb + {j}u]; //@j
    acc{r} += dot(a{r}_{j}, k{j}); //@jr
    var v{r} = acc{r} - h; //@r
    var vi{r} = key; //@r
    if (v{r} > s{r}_{L}) { <<{ let sw = v{r} > s{r}_{t}; let ts = s{r}_{t}; let ti = c{r}_{t}; s{r}_{t} = select(ts, v{r}, sw); c{r}_{t} = select(ti, vi{r}, sw); v{r} = select(v{r}, ts, sw); vi{r} = select(vi{r}, ti, sw); }>> } //@r
  }
  if (i0 + {r}u < p.rows) { ls[o{r} + {t}u] = s{r}_{t}; li[o{r} + {t}u] = c{r}_{t}; } //@rp
}
