// Empty-cluster split (faiss style): scales centroid `row` of the chunk by 1 ± eps on
// alternating components (sign from p.sign), renormalises when spherical and updates
// 0.5 ||c||². The host first copies the donor centroid onto the empty one.
struct Params { row: u32, d: u32, spherical: u32, sign: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> cent: array<f32>;
@group(0) @binding(2) var<storage, read_write> cn: array<f32>;

@compute @workgroup_size(1)
fn main() {
  let eps = 1.0 / 1024.0;
  let base = p.row * p.d;
  var ss = 0.0;
  for (var j = 0u; j < p.d; j++) {
    let s = select(-p.sign, p.sign, j % 2u == 0u);
    let v = cent[base + j] * (1.0 + s * eps);
    cent[base + j] = v;
    ss += v * v;
  }
  if (p.spherical != 0u && ss > 0.0) {
    let inv = inverseSqrt(ss);
    for (var j = 0u; j < p.d; j++) { cent[base + j] = cent[base + j] * inv; }
    ss = 1.0;
  }
  cn[p.row] = 0.5 * ss;
}
