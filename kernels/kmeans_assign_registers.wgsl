// Fused nearest-centroid search, "rows in registers" (fast on CPU-backed adapters such as
// lavapipe, where every storage or uniform load with a loop-dependent index is a per-lane
// loop, so the design loads the fewest components per FMA): each invocation holds R rows
// of x, fully unrolled over the row's vec4s, and streams a block of centroids from a
// UNIFORM binding (uniform loads cost less than storage loads there), keeping a running
// per-row argmax across blocks (the host dispatches one 64 KiB block at a time). The n × k
// score matrix is never stored.
// The host expands this template (src/gpu/template.ts `specialize`): a line ending in
// //@r is repeated for r in [0, R) with {r} substituted, //@j for j in [0, D4), //@jr for
// every (j, r) with j outer, //@rj with r outer. A line starting with //@t:a,b is kept
// only when one of the listed tags is set, with the prefix removed:
//   f32: f32 rows and f32 centroids;
//   v2:  f16 rows (four halves packed in a vec2<u32>), f32 centroids (odd vec4s per row);
//   v4:  f16 rows and centroids, eight halves packed in a vec4<u32> (D4 counts those);
//   f:   set with f32 and v2 (f32 centroids).
// Accumulation is f32 in every case.
// Rows wider than one slice (src/gpu/register_slices.ts) are walked in slices, one dispatch per
// slice: tag `whole` keeps the whole row (the kernel above); tag `s` holds a slice of D4 units
// of each row (from unit p.sOff of rows of p.dx units) and streams that slice of the block's
// centroids from a slice window (KB centroids of D4 units). The partial dot products go to
// `part`, PH vec4s per invocation and centroid holding its R rows' sums (the host expands
// PARTIAL_READ / PARTIAL_WRITE into those loads and stores): tag `wr` writes them (every
// slice but the last), `rd` starts each sum from them (every slice but the first), so each
// row's sum is the same chain of f32 additions as the whole kernel's. Tag `fin` (the whole
// kernel, the last slice) keeps the running argmax; `last` marks the last slice.
//@t:f32 alias Packed = vec4<f32>;
//@t:v2 alias Packed = vec2<u32>;
//@t:v4 alias Packed = vec4<u32>;
//@t:f alias Cent = vec4<f32>;
//@t:v4 alias Cent = vec4<u32>;
const R: u32 = 8u;
const D4: u32 = 32u;
const CU: u32 = 4096u; // centroids per block × D4, at most 64 KiB
const PH: u32 = 2u; // sliced: vec4s of partial sums per invocation and key/centroid, ceil(R / 4)
const KB: u32 = 256u; // sliced: centroids per slice window (the stride of a row's partials)

// flags: bit 0 first centroid chunk, bit 1 last chunk, bit 2 spherical (score = dot).
//@if:whole
struct Params { rows: u32, k: u32, kBase: u32, flags: u32, cnOff: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<uniform> c: array<Cent, CU>; // this block's centroids
@group(0) @binding(3) var<storage, read> cn: array<f32>; // 0.5 ||c||² per centroid of the chunk
@group(0) @binding(4) var<storage, read_write> bestIdx: array<u32>;
@group(0) @binding(5) var<storage, read_write> bestScore: array<f32>;
//@end
//@if:s
// Rows [rowBase, rowEnd) of the bound chunk; sOff: first unit of the slice; dx: units per row.
struct Params { rowBase: u32, rowEnd: u32, k: u32, kBase: u32, flags: u32, cnOff: u32, sOff: u32, dx: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<uniform> c: array<Cent, CU>; // this slice of the block's centroids
@group(0) @binding(3) var<storage, read_write> part: array<vec4<f32>>; // see PARTIAL_READ
//@end
//@if:last
@group(0) @binding(4) var<storage, read> cn: array<f32>;
@group(0) @binding(5) var<storage, read_write> bestIdx: array<u32>;
@group(0) @binding(6) var<storage, read_write> bestScore: array<f32>;
//@end

fn lo(v: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }
fn hi(v: vec4<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)); }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
//@if:whole
  let r0 = ((wid.x + wid.y * nwg.x) * 64u + lid) * R;
  if (r0 >= p.rows) { return; }
//@end
//@if:s
  let r0 = p.rowBase + ((wid.x + wid.y * nwg.x) * 64u + lid) * R;
  if (r0 >= p.rowEnd) { return; }
//@end
  let first = (p.flags & 1u) != 0u;
  let last = (p.flags & 2u) != 0u;
  let spherical = (p.flags & 4u) != 0u;
  //@t:whole let lastRow = p.rows - 1u;
  //@t:s let lastRow = p.rowEnd - 1u;
  let row{r} = min(r0 + {r}u, lastRow); //@r
//@if:whole
  //@t:f32 let a{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v2 let q{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
  //@t:v4 let q{r}_{j} = x[row{r} * D4 + {j}u]; //@rj
//@end
//@if:s
  let pv = ((r0 - p.rowBase) / R) * KB * PH;
  let xb{r} = row{r} * p.dx + p.sOff; //@r
  //@t:f32 let a{r}_{j} = x[xb{r} + {j}u]; //@rj
  //@t:v2 let q{r}_{j} = x[xb{r} + {j}u]; //@rj
  //@t:v4 let q{r}_{j} = x[xb{r} + {j}u]; //@rj
//@end
  //@t:v2 let a{r}_{j} = vec4<f32>(unpack2x16float(q{r}_{j}.x), unpack2x16float(q{r}_{j}.y)); //@rj
  //@t:v4 let a{r}_{j} = lo(q{r}_{j}); //@rj
  //@t:v4 let b{r}_{j} = hi(q{r}_{j}); //@rj
//@if:fin
  var best{r} = -3.40282347e38; //@r
  var bi{r} = p.kBase; //@r
  if (!first) { best{r} = bestScore[row{r}]; bi{r} = bestIdx[row{r}]; } //@r
//@end
  for (var cc = 0u; cc < p.k; cc++) {
    let cb = cc * D4;
    var acc{r} = 0.0; //@r
    //@t:rd PARTIAL_READ
    //@t:f let c{j} = c[cb + {j}u]; //@j
    //@t:f acc{r} += dot(a{r}_{j}, c{j}); //@jr
    //@t:v4 let u{j} = c[cb + {j}u]; //@j
    //@t:v4 let c{j} = lo(u{j}); //@j
    //@t:v4 let e{j} = hi(u{j}); //@j
    //@t:v4 acc{r} += dot(a{r}_{j}, c{j}) + dot(b{r}_{j}, e{j}); //@jr
    //@t:wr PARTIAL_WRITE
    //@t:fin let h = select(cn[p.cnOff + cc], 0.0, spherical);
    //@t:fin if (acc{r} - h > best{r}) { best{r} = acc{r} - h; bi{r} = p.kBase + cc; } //@r
  }
//@if:whole
  var xx{r} = 0.0; //@r
  //@t:f if (last && !spherical) { xx{r} += dot(a{r}_{j}, a{r}_{j}); } //@rj
  //@t:v4 if (last && !spherical) { xx{r} += dot(a{r}_{j}, a{r}_{j}) + dot(b{r}_{j}, b{r}_{j}); } //@rj
  if (last && !spherical) { best{r} = max(0.0, xx{r} - 2.0 * best{r}); } //@r
  if (r0 + {r}u < p.rows) { bestScore[row{r}] = best{r}; bestIdx[row{r}] = bi{r}; } //@r
//@end
//@if:last
  // ||x||² over the whole row, in the whole kernel's order.
  var xx{r} = 0.0; //@r
  //@t:f32 if (last && !spherical) { for (var j = 0u; j < p.dx; j++) { let v = x[row{r} * p.dx + j]; xx{r} += dot(v, v); } } //@r
  //@t:v2 if (last && !spherical) { for (var j = 0u; j < p.dx; j++) { let q = x[row{r} * p.dx + j]; let v = vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)); xx{r} += dot(v, v); } } //@r
  //@t:v4 if (last && !spherical) { for (var j = 0u; j < p.dx; j++) { let q = x[row{r} * p.dx + j]; xx{r} += dot(lo(q), lo(q)) + dot(hi(q), hi(q)); } } //@r
  if (last && !spherical) { best{r} = max(0.0, xx{r} - 2.0 * best{r}); } //@r
  if (r0 + {r}u < p.rowEnd) { bestScore[row{r}] = best{r}; bestIdx[row{r}] = bi{r}; } //@r
//@end
}
