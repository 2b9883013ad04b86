// IVF scoring: one indirect dispatch per block slot of the center index (see ivf_layout.wgsl)
// scores the rows that probe the slot's cell against the slot's centers, a dense block:
// "rows in registers" as in kernels/kmeans_assign_registers.wgsl (R rows per invocation,
// unrolled over their D4 units, the slot's centers streamed from a 64 KiB UNIFORM block in
// ascending index order, f32 accumulation in the same order, so each score is bit for bit
// the exact kernel's). The slot's record (64 u32, bound at the slot's 256-byte window; the
// plan pass fills its row range) names its centers and rows; the rows are (row, probe)
// pairs e = row * np + t sorted by cell, and each pair has exactly one running result:
//   top1: bs/bi[e] = best score (dot − 0.5‖c‖² for l2, dot otherwise) and center index;
//   topk: bs/bi[e * K + t], the pair's K best (grouped positions; the reduce maps them to
//         center indices), sorted, ties by lower index, kept in registers while the slot's
//         centers stream by (an unrolled compare-and-swap insertion: lavapipe runs both sides
//         of every branch, so a loop of shifts in storage would cost every center).
// The first slot of a cell starts the results; the next slots of that cell update them.
// Template tags: f32 (f32 rows and centers), v2 (f16 rows as vec2<u32>, f32 centers), v4
// (f16 rows and centers, eight halves per vec4<u32>), f (set with f32 and v2), l2 (bias),
// dot (no bias); //@if:top1 or //@if:topk (whose //@rp lines and <<...>> segments
// src/ivf/_programs.ts `expandLists` repeats over the K list entries first).
//@t:f32 alias Packed = vec4<f32>;
//@t:v2 alias Packed = vec2<u32>;
//@t:v4 alias Packed = vec4<u32>;
//@t:f alias Cent = vec4<f32>;
//@t:v4 alias Cent = vec4<u32>;
const R: u32 = 8u;
const D4: u32 = 32u;
const CU: u32 = 4096u; // centers per slot × D4 units, at most 64 KiB
const KB: u32 = 128u;  // grouped positions per slot
const K: u32 = 8u;     // list length (topk)
const NEG = -3.40282347e38;
const NONE = 0xffffffffu;

// Record words: 4 centers, 5 first-of-cell, 6 slot, 7 first sorted pair, 8 pairs,
// 9 first row of the batch in the bound chunk, 10 np, 11 k.
@group(0) @binding(0) var<storage, read> rec: array<u32, 64>;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<uniform> c: array<Cent, CU>;
@group(0) @binding(3) var<storage, read> cinfo: array<vec2<u32>>;
@group(0) @binding(4) var<storage, read> order: array<u32>;
@group(0) @binding(5) var<storage, read_write> bs: array<f32>;
@group(0) @binding(6) var<storage, read_write> bi: array<u32>;

fn lo(v: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }
fn hi(v: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)); }
fn orig(g: u32) -> u32 { return cinfo[g].y; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let count = rec[4];
  let first = rec[5] != 0u;
  let gbase = rec[6] * KB;
  let pairStart = rec[7];
  let pairs = rec[8];
  let rowBase = rec[9];
  let np = rec[10];
  let i0 = (wid.x * 64u + lid) * R;
  if (i0 >= pairs) { return; }
  let lastPair = pairs - 1u;
  let e{r} = order[pairStart + min(i0 + {r}u, lastPair)]; //@r
  let row{r} = rowBase + e{r} / np; //@r
  //@t:f32 let a{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let q{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let a{r}_{j} = vec4<f32>(unpack2x16float(q{r}_{j}.x), unpack2x16float(q{r}_{j}.y)); //@rj
  //@t:v4 let q{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v4 let a{r}_{j} = lo(q{r}_{j}); //@rj
  //@t:v4 let b{r}_{j} = hi(q{r}_{j}); //@rj
//@if:top1
  var best{r} = NEG; //@r
  var bl{r} = NONE; //@r
  if (!first) { best{r} = bs[e{r}]; } //@r
//@end
//@if:topk
  var s{r}_{t} = NEG; //@rp
  var c{r}_{t} = NONE; //@rp
  if (!first) { s{r}_{t} = bs[e{r} * K + {t}u]; c{r}_{t} = bi[e{r} * K + {t}u]; } //@rp
//@end
  for (var cc = 0u; cc < count; cc++) {
    let cb = cc * D4;
    var acc{r} = 0.0; //@r
    //@t:f let c{j} = c[cb + {j}u]; //@j
    //@t:f acc{r} += dot(a{r}_{j}, c{j}); //@jr
    //@t:v4 let u{j} = c[cb + {j}u]; //@j
    //@t:v4 let c{j} = lo(u{j}); //@j
    //@t:v4 let f{j} = hi(u{j}); //@j
    //@t:v4 acc{r} += dot(a{r}_{j}, c{j}) + dot(b{r}_{j}, f{j}); //@jr
    //@t:l2 let h = bitcast<f32>(cinfo[gbase + cc].x);
    //@t:l2 let s{r} = acc{r} - h; //@r
    //@t:dot let s{r} = acc{r}; //@r
//@if:top1
    if (s{r} > best{r}) { best{r} = s{r}; bl{r} = cc; } //@r
//@end
//@if:topk
    var v{r} = s{r}; //@r
    var vi{r} = gbase + cc; //@r
    if (v{r} > s{r}_{L}) { <<{ let sw = v{r} > s{r}_{t}; let ts = s{r}_{t}; let ti = c{r}_{t}; s{r}_{t} = select(ts, v{r}, sw); c{r}_{t} = select(ti, vi{r}, sw); v{r} = select(v{r}, ts, sw); vi{r} = select(vi{r}, ti, sw); }>> } //@r
//@end
  }
//@if:topk
  if (i0 + {r}u < pairs) { bs[e{r} * K + {t}u] = s{r}_{t}; bi[e{r} * K + {t}u] = c{r}_{t}; } //@rp
//@end
//@if:top1
  if (i0 + {r}u < pairs && bl{r} != NONE) { bs[e{r}] = best{r}; bi[e{r}] = orig(gbase + bl{r}); } //@r
  if (i0 + {r}u < pairs && first && bl{r} == NONE) { bs[e{r}] = NEG; bi[e{r}] = NONE; } //@r
//@end
}
