// k-means update, step 2, plain or weighted (a template: specialize() keeps the lines and
// blocks tagged with the variant): centroid = fixed-point sum / (scale × total)
// for every centroid of the chunk with members and a positive total (the others keep their
// value until they are split), L2-normalised when spherical; writes 0.5 ||c||² for the
// assignment kernel.
// - plain: 64-bit sums, total = the member count;
// - weighted: 96-bit two's-complement sums, total = the 64-bit weight total.
struct Params { kc: u32, kBase: u32, d4: u32, spherical: u32, invScale: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read> sums: array<u32>;
@group(0) @binding(3) var<storage, read_write> cent: array<f32>;
@group(0) @binding(4) var<storage, read_write> cn: array<f32>;
//@t:weighted @group(0) @binding(5) var<storage, read> wsum: array<u32>;

const TWO32: f32 = 4294967296.0;

//@if:plain
// Signed 64-bit two's-complement integer to f32.
fn toF32(e: u32) -> f32 {
  let hi = bitcast<i32>(sums[2u * e + 1u]);
  let lo = sums[2u * e];
  return f32(hi) * TWO32 + f32(lo);
}
//@end
//@if:weighted
// Signed 96-bit two's-complement integer to f32.
fn toF32(e: u32) -> f32 {
  var w0 = sums[3u * e];
  var w1 = sums[3u * e + 1u];
  var w2 = sums[3u * e + 2u];
  let neg = (w2 & 0x80000000u) != 0u;
  if (neg) {
    w0 = ~w0 + 1u;
    w1 = ~w1 + select(0u, 1u, w0 == 0u);
    w2 = ~w2 + select(0u, 1u, w0 == 0u && w1 == 0u);
  }
  let m = (f32(w2) * TWO32 + f32(w1)) * TWO32 + f32(w0);
  return select(m, -m, neg);
}
//@end

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let cl = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (cl >= p.kc) { return; }
  let a = p.kBase + cl;
  //@t:plain let total = f32(counts[a]);
  //@t:weighted let total = f32(wsum[2u * a + 1u]) * TWO32 + f32(wsum[2u * a]);
  let d = p.d4 * 4u;
  if (counts[a] > 0u && total > 0.0) {
    let f = p.invScale / total;
    var ss = 0.0;
    for (var j = 0u; j < d; j++) {
      let e = cl * d + j;
      let v = toF32(e) * f;
      cent[e] = v;
      ss += v * v;
    }
    if (p.spherical != 0u && ss > 0.0) {
      let inv = inverseSqrt(ss);
      for (var j = 0u; j < d; j++) { cent[cl * d + j] = cent[cl * d + j] * inv; }
    }
  }
  var s2 = 0.0;
  for (var j = 0u; j < d; j++) { let v = cent[cl * d + j]; s2 += v * v; }
  cn[cl] = 0.5 * s2;
}
