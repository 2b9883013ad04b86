// k-means|| initialisation, one round, step 1: folds the fused assignment's best score of each
// row of a chunk against this round's NEW candidates into the row's running D² (squared L2
// distance to its nearest candidate so far, over the whole sample) and that candidate's index.
// Under cosine the rows and candidates are unit vectors, so D² = 2 − 2·cos (clamped at 0).
// flags: bit 0 spherical, bit 1 first round (overwrite). Strict `<` keeps the earlier
// candidate on ties, so the result does not depend on how candidates are grouped.
struct Params { rows: u32, rowStart: u32, base: u32, flags: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> score: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> minD: array<f32>;
@group(0) @binding(4) var<storage, read_write> near: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.rows) { return; }
  let s = score[i];
  let d2 = select(s, max(0.0, 2.0 - 2.0 * s), (p.flags & 1u) != 0u);
  let g = p.rowStart + i;
  if ((p.flags & 2u) != 0u || d2 < minD[g]) {
    minD[g] = d2;
    near[g] = p.base + idx[i];
  }
}
