// k-means|| initialisation: deterministic partial sums. Workgroup b adds the values
// [b·4096, (b+1)·4096) of `v` (times `w` when p.weighted) in a fixed order (invocation i
// sums rows b·4096 + i + 256·j, then a tree in workgroup memory) into out[b]. The blocks
// are fixed on the whole array, so the sums do not depend on how the rows were chunked.
// Run twice: the sample's D² into block partials, then the partials into one total.
struct Params { rows: u32, weighted: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> v: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> acc: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let b = wid.x + wid.y * nwg.x;
  var s = 0.0;
  for (var j = 0u; j < 16u; j++) {
    let r = b * 4096u + j * 256u + lid;
    if (r < p.rows) {
      s += select(v[r], w[r] * v[r], p.weighted != 0u);
    }
  }
  acc[lid] = s;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h >> 1u) {
    if (lid < h) { acc[lid] = acc[lid] + acc[lid + h]; }
    workgroupBarrier();
  }
  if (lid == 0u && b * 4096u < max(p.rows, 1u)) { out[b] = acc[0]; }
}
