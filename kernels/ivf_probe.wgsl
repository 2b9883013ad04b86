// IVF probe: each row's `np` best cells, "rows in registers" like
// kernels/topk_registers.wgsl: each invocation holds R rows, fully unrolled over their D4
// vec4s, and streams one block of cell centers from a UNIFORM binding (the host binds 64 KiB
// blocks in order). Score = dot(row, cell) − bias[cell]: the bias is 0.5‖cell‖² for l2
// (nearest cell by distance), 0 for cosine / inner product, and +Inf for a cell to skip (an
// empty cell), which then never enters a list. Each (score, cell) is one u32 key: the score
// mapped to an order-preserving u32 with its low `bits` bits replaced by (mask − cell), so a
// larger key is a better cell (a lower cell on a tie of the truncated scores; the probe only
// ranks cells, and nprobe = cells takes them all). Each row's sorted list of NP keys, best
// first, lives in registers and takes a key by an unrolled max/min pass (two instructions
// per entry, no branch: lavapipe runs both sides of every branch anyway), read from ls and
// written to ls (keys) and li (cells, 0xffffffff for none) once per dispatch; the first
// block of a search starts from empty lists (key 0).
// Template (src/gpu/template.ts `specialize`, after src/ivf/_programs.ts `expandLists` has
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
  bits: u32,    // low key bits holding the cell
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<uniform> keys: array<vec4<f32>, CU>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> ls: array<u32>;
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
  let mask = (1u << p.bits) - 1u;
  var s{r}_{t} = 0u; //@rp
  if (p.first == 0u) { s{r}_{t} = ls[o{r} + {t}u]; } //@rp
  for (var cc = 0u; cc < p.nkeys; cc++) {
    let cb = cc * D4;
    let h = bias[p.keyBase + cc];
    let low = mask - (p.keyBase + cc);
    let skip = h == bitcast<f32>(0x7f800000u);
    var acc{r} = 0.0; //@r
    let k{j} = keys[cb + {j}u]; //@j
    acc{r} += dot(a{r}_{j}, k{j}); //@jr
    let u{r} = bitcast<u32>(acc{r} - h); //@r
    var v{r} = select(((select(u{r} | 0x80000000u, ~u{r}, u{r} >= 0x80000000u)) & ~mask) | low, 0u, skip); //@r
    <<{ let m = max(s{r}_{t}, v{r}); v{r} = min(s{r}_{t}, v{r}); s{r}_{t} = m; }>> //@r
  }
  if (i0 + {r}u < p.rows) { ls[o{r} + {t}u] = s{r}_{t}; li[o{r} + {t}u] = select(mask - (s{r}_{t} & mask), NONE, s{r}_{t} == 0u); } //@rp
}
