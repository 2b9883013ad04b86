// k-means update, step 2: centroid = fixed-point sum / (scale × count) for every
// non-empty centroid of the chunk (empty ones keep their value until they are split),
// L2-normalised when spherical; writes 0.5 ||c||² for the assignment kernel.
struct Params { kc: u32, kBase: u32, d4: u32, spherical: u32, invScale: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> counts: array<u32>;
@group(0) @binding(2) var<storage, read> sums: array<u32>;
@group(0) @binding(3) var<storage, read_write> cent: array<f32>;
@group(0) @binding(4) var<storage, read_write> cn: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let cl = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (cl >= p.kc) { return; }
  let cnt = counts[p.kBase + cl];
  let d = p.d4 * 4u;
  if (cnt > 0u) {
    let f = p.invScale / f32(cnt);
    var ss = 0.0;
    for (var j = 0u; j < d; j++) {
      let e = cl * d + j;
      let hi = bitcast<i32>(sums[2u * e + 1u]);
      let lo = sums[2u * e];
      let v = (f32(hi) * 4294967296.0 + f32(lo)) * f;
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
