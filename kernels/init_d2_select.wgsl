// k-means|| initialisation, one round, step 2: D² sampling. Row i is taken with probability
// min(1, ℓ·w_i·D²_i / Σ_j w_j·D²_j) (Σ read from `total`), against a uniform drawn from a
// hash of (seed, round, row): the same rows are taken whatever the chunking or the order
// of the invocations. A taken row gets D² = 0 (it is a candidate now) and is appended to
// `list` (its order is the invocations' order; the host sorts it); `count` counts them all,
// also those past `cap`.
struct Params { rows: u32, key: u32, cap: u32, weighted: u32, ell: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> minD: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> total: array<f32>;
@group(0) @binding(4) var<storage, read_write> count: array<atomic<u32>>;
@group(0) @binding(5) var<storage, read_write> list: array<u32>;

// Chris Wellons' lowbias32 integer hash (also in src/kmeans/_init_programs.ts).
fn mix(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.rows) { return; }
  let d2 = minD[i];
  let sum = total[0];
  if (!(d2 > 0.0) || !(sum > 0.0)) { return; }
  let wd = select(d2, w[i] * d2, p.weighted != 0u);
  let prob = p.ell * (wd / sum);
  let u = f32(mix(i ^ p.key) >> 8u) * (1.0 / 16777216.0);
  if (u < prob) {
    minD[i] = 0.0;
    let slot = atomicAdd(&count[0], 1u);
    if (slot < p.cap) { list[slot] = i; }
  }
}
