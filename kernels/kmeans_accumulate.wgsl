// k-means update, step 1: for every row assigned to a centroid of the bound chunk
// [kBase, kBase + kc), count it (atomic u32) and add the row to its centroid's sum in
// 64-bit fixed point (two u32 atomics with carry, value × scale rounded to i32). Integer
// addition is associative, so the sums do not depend on the order atomics land in:
// the update is deterministic without float atomics.
alias Packed = vec4<f32>; //@f32
//@f16 alias Packed = vec2<u32>;
fn unpack(v: Packed) -> vec4<f32> { return v; } //@f32
//@f16 fn unpack(v: Packed) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }

struct Params { rows: u32, kBase: u32, kc: u32, d4: u32, scale: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<storage, read> assign: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> sums: array<atomic<u32>>; // kc × d4 × 4 × (lo, hi)

fn add64(e: u32, v: f32) {
  let q = i32(round(v * p.scale));
  if (q == 0) { return; }
  let lo = bitcast<u32>(q);
  let old = atomicAdd(&sums[2u * e], lo);
  let carry = select(0u, 1u, old + lo < old);
  let hi = select(0u, 0xffffffffu, q < 0) + carry;
  if (hi != 0u) { atomicAdd(&sums[2u * e + 1u], hi); }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let a = assign[row];
  if (a < p.kBase || a >= p.kBase + p.kc) { return; }
  let cl = a - p.kBase;
  atomicAdd(&counts[a], 1u);
  for (var j = 0u; j < p.d4; j++) {
    let v = unpack(x[row * p.d4 + j]);
    let e = (cl * p.d4 + j) * 4u;
    add64(e, v.x);
    add64(e + 1u, v.y);
    add64(e + 2u, v.z);
    add64(e + 3u, v.w);
  }
}
