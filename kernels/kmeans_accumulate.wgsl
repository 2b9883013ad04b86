// k-means update, step 1, plain or weighted (a template: specialize() keeps the lines and
// blocks tagged with the variant, and those of the row storage format). For every row
// assigned to a centroid of the bound chunk [kBase, kBase + kc), count it (atomic u32,
// members) and add the row to its centroid's sum in fixed point, value × scale rounded to
// i32:
// - plain: a 64-bit sum (two u32 atomics with carry);
// - weighted: also add the row's integer weight W to the centroid's 64-bit weight total,
//   and add W × round(value × scale) to a 96-bit two's-complement sum (three u32 atomics
//   with carries). |value × scale| ≤ 2^30 and W < 2^32, so a product is < 2^62 and 2^32 of
//   them stay below 2^94: no overflow.
// Integer addition is associative, so the sums do not depend on the order the atomics land
// in: the update is deterministic without float atomics.
alias Packed = vec4<f32>; //@f32
//@f16 alias Packed = vec2<u32>;
fn unpack(v: Packed) -> vec4<f32> { return v; } //@f32
//@f16 fn unpack(v: Packed) -> vec4<f32> { return vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)); }

struct Params { rows: u32, kBase: u32, kc: u32, d4: u32, scale: f32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<Packed>;
@group(0) @binding(2) var<storage, read> assign: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;
//@t:plain @group(0) @binding(4) var<storage, read_write> sums: array<atomic<u32>>; // kc × d4 × 4 × (lo, hi)
//@t:weighted @group(0) @binding(4) var<storage, read_write> sums: array<atomic<u32>>; // kc × d4 × 4 × 3 words
//@t:weighted @group(0) @binding(5) var<storage, read> weight: array<u32>;
//@t:weighted @group(0) @binding(6) var<storage, read_write> wsum: array<atomic<u32>>; // k × (lo, hi)

//@if:plain
fn add64(e: u32, v: f32) {
  let q = i32(round(v * p.scale));
  if (q == 0) { return; }
  let lo = bitcast<u32>(q);
  let old = atomicAdd(&sums[2u * e], lo);
  let carry = select(0u, 1u, old + lo < old);
  let hi = select(0u, 0xffffffffu, q < 0) + carry;
  if (hi != 0u) { atomicAdd(&sums[2u * e + 1u], hi); }
}
//@end
//@if:weighted
// Full 64-bit product of two u32 values as (lo, hi), from 16-bit halves.
fn mul64(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = p01 + p10;
  let midCarry = select(0u, 0x10000u, mid < p01);
  let lo = p00 + (mid << 16u);
  let loCarry = select(0u, 1u, lo < p00);
  return vec2<u32>(lo, p11 + (mid >> 16u) + midCarry + loCarry);
}

fn add96(e: u32, v: f32, w: u32) {
  let q = i32(round(v * p.scale));
  if (q == 0) { return; }
  let m = mul64(u32(abs(q)), w);
  var w0 = m.x;
  var w1 = m.y;
  var w2 = 0u;
  if (q < 0) { // negate over 96 bits: ~x + 1
    w0 = ~w0 + 1u;
    w1 = ~w1 + select(0u, 1u, w0 == 0u);
    w2 = 0xffffffffu + select(0u, 1u, w0 == 0u && w1 == 0u);
  }
  var c1 = 0u;
  if (w0 != 0u) {
    let o0 = atomicAdd(&sums[3u * e], w0);
    c1 = select(0u, 1u, o0 + w0 < o0);
  }
  let a1 = w1 + c1;
  var c2 = select(0u, 1u, a1 < w1); // w1 = 0xffffffff plus the carry: add 0, carry on
  if (a1 != 0u) {
    let o1 = atomicAdd(&sums[3u * e + 1u], a1);
    c2 = c2 + select(0u, 1u, o1 + a1 < o1);
  }
  let a2 = w2 + c2;
  if (a2 != 0u) { atomicAdd(&sums[3u * e + 2u], a2); }
}
//@end

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.rows) { return; }
  let a = assign[row];
  if (a < p.kBase || a >= p.kBase + p.kc) { return; }
  let cl = a - p.kBase;
  atomicAdd(&counts[a], 1u);
  //@if:weighted
  let w = weight[row];
  if (w == 0u) { return; }
  let old = atomicAdd(&wsum[2u * a], w);
  if (old + w < old) { atomicAdd(&wsum[2u * a + 1u], 1u); }
  //@end
  for (var j = 0u; j < p.d4; j++) {
    let v = unpack(x[row * p.d4 + j]);
    let e = (cl * p.d4 + j) * 4u;
    //@if:plain
    add64(e, v.x);
    add64(e + 1u, v.y);
    add64(e + 2u, v.z);
    add64(e + 3u, v.w);
    //@end
    //@if:weighted
    add96(e, v.x, w);
    add96(e + 1u, v.y, w);
    add96(e + 2u, v.z, w);
    add96(e + 3u, v.w, w);
    //@end
  }
}
