// Fused nearest-centroid search, "rows in registers" (fast on CPU-backed adapters such as
// lavapipe, where every storage load costs a per-lane loop): each invocation holds R rows
// of x, fully unrolled over the D4 vec4s of a padded row, and streams a block of KB
// centroids from a UNIFORM binding (uniform loads are plain loads there, 2.7× faster than
// storage), keeping a running per-row argmax across blocks (the host dispatches one block
// at a time, 64 KiB each). The n × k score matrix is never stored.
// The host expands this template (src/kmeans/_kernels.ts `specialize`): a line ending in
// //@r is repeated for r in [0, R) with {r} substituted, //@j for j in [0, D4), //@jr for
// every (j, r) with j outer, //@rj with r outer. Lines marked //@f32 / //@f16 select the
// storage format (f16: four halves packed in a vec2<u32>; f32 accumulation either way).
alias Packed = vec4<f32>; //@f32
//@f16 alias Packed = vec2<u32>;
fn unpack(v: Packed) -> vec4<f32> { return v; } //@f32
//@f16 fn unpack(v: Packed) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }
const R: u32 = 16u;
const D4: u32 = 32u;
const CU: u32 = 4096u; // KB × D4 vec4s, at most 64 KiB

// flags: bit 0 first centroid chunk, bit 1 last chunk, bit 2 spherical (score = dot).
struct Params { rows: u32, k: u32, kBase: u32, flags: u32, cnOff: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<uniform> c: array<vec4<f32>, CU>; // this block's centroids, f32
@group(0) @binding(3) var<storage, read> cn: array<f32>; // 0.5 ||c||² per centroid of the chunk
@group(0) @binding(4) var<storage, read_write> bestIdx: array<u32>;
@group(0) @binding(5) var<storage, read_write> bestScore: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r0 = ((wid.x + wid.y * nwg.x) * 64u + lid) * R;
  if (r0 >= p.rows) { return; }
  let first = (p.flags & 1u) != 0u;
  let last = (p.flags & 2u) != 0u;
  let spherical = (p.flags & 4u) != 0u;
  let lastRow = p.rows - 1u;
  let row{r} = min(r0 + {r}u, lastRow); //@r
  let a{r}_{j} = unpack(x[row{r} * D4 + {j}u]); //@rj
  var best{r} = -3.40282347e38; //@r
  var bi{r} = p.kBase; //@r
  if (!first) { best{r} = bestScore[row{r}]; bi{r} = bestIdx[row{r}]; } //@r
  for (var cc = 0u; cc < p.k; cc++) {
    let cb = cc * D4;
    var acc{r} = 0.0; //@r
    let c{j} = c[cb + {j}u]; //@j
    acc{r} += dot(a{r}_{j}, c{j}); //@jr
    let h = select(cn[p.cnOff + cc], 0.0, spherical);
    if (acc{r} - h > best{r}) { best{r} = acc{r} - h; bi{r} = p.kBase + cc; } //@r
  }
  var xx{r} = 0.0; //@r
  if (last && !spherical) { xx{r} += dot(a{r}_{j}, a{r}_{j}); } //@rj
  if (last && !spherical) { best{r} = max(0.0, xx{r} - 2.0 * best{r}); } //@r
  if (r0 + {r}u < p.rows) { bestScore[row{r}] = best{r}; bestIdx[row{r}] = bi{r}; } //@r
}
