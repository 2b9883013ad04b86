// The one row-packing kernel of GpuMatrix: copies rows of a row-major matrix into GpuMatrix
// storage, optionally gathering them through an index, L2-normalising them (all-zero rows
// stay zero), zero-padding them to the destination stride and storing them as f32 or as
// packed f16 pairs (two halves per u32). Also, on request, each row's inverse norm (0 for an
// all-zero row; the loss's normalisation Jacobian needs it) and global statistics (the
// largest |value| as ordered bits, the first all-zero and the first non-finite row, and the
// first rows beyond the limits of src/matrix/matrix.ts: too small to normalise, a squared
// norm too large for L2 distances, a value beyond float16).
// Normalisation does not depend on a row's scale: a row whose largest |value| m lies in
// [2^-50, 2^50] sums its squares directly (no overflow or underflow is possible there); any
// other row is divided by m first (values in [-1, 1], sum in [1, cols]). Rows with m below
// 2^-102 are left as they are: GPUs may flush such values to zero, so the host refuses them
// like all-zero rows.
// One invocation per output row. In place (flag 32), rows are read from `dst` itself
// (same stride and dtype): each row is read before it is written.
struct Params {
  rows: u32,
  cols: u32,
  srcStride: u32,
  dstStride: u32,
  srcRow0: u32,
  srcRows: u32,
  dstRow0: u32,
  rowBase: u32,
  indexOff: u32,
  flags: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<storage, read> index: array<u32>;
@group(0) @binding(4) var<storage, read_write> invNorm: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<atomic<u32>, 8>;

const NORMALIZE = 1u;
const SRC_F16 = 2u;
const DST_F16 = 4u;
const GATHER = 8u;
const INV_NORM = 16u;
const IN_PLACE = 32u;
const STATS = 64u;
const NO_WRITE = 128u;

const TINY = 0x0c800000u; // 2^-102: a smaller largest |value| cannot be normalised safely
const DIRECT_MIN = 0x26800000u; // 2^-50
const DIRECT_MAX = 0x58800000u; // 2^50
const F16_MAX = 0x477fe000u; // 65504
const L2_NORM2_MAX: f32 = 8.50705917e37; // float32 max / 4: squared distances stay finite

fn word(i: u32) -> u32 {
  if ((p.flags & IN_PLACE) != 0u) { return dst[i]; }
  return src[i];
}

fn value(i: u32) -> f32 {
  if ((p.flags & SRC_F16) != 0u) { return unpack2x16float(word(i >> 1u))[i & 1u]; }
  return bitcast<f32>(word(i));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (r >= p.rows) { return; }
  var s = p.srcRow0 + r;
  if ((p.flags & GATHER) != 0u) {
    let g = index[p.indexOff + r];
    if (g < p.srcRow0 || g >= p.srcRow0 + p.srcRows) { return; } // in another source chunk
    s = g - p.srcRow0;
  }
  let sb = s * p.srcStride;
  var sum = 0.0;
  var top = 0u; // largest |value| as bits (ordered like the values for non-negative floats)
  var bad = false;
  for (var c = 0u; c < p.cols; c++) {
    let v = value(sb + c);
    sum += v * v;
    let bits = bitcast<u32>(v) & 0x7fffffffu;
    if (bits >= 0x7f800000u) { bad = true; }
    top = max(top, bits);
  }
  var inv = 0.0; // 1 / ||row||
  var scale = 1.0; // what each value (divided by div) is multiplied by
  var div = 1.0;
  var huge = false; // squared norm beyond L2_NORM2_MAX
  let direct = top >= DIRECT_MIN && top <= DIRECT_MAX;
  if (direct) {
    if (sum > 0.0) { inv = 1.0 / sqrt(sum); }
  } else if (top >= TINY && !bad) {
    let m = bitcast<f32>(top);
    var s2 = 0.0;
    for (var c = 0u; c < p.cols; c++) {
      let u = value(sb + c) / m;
      s2 += u * u;
    }
    let inv2 = 1.0 / sqrt(s2);
    inv = inv2 / m;
    huge = m > sqrt(L2_NORM2_MAX / s2);
    if ((p.flags & NORMALIZE) != 0u) { div = m; scale = inv2; }
  }
  if (direct && (p.flags & NORMALIZE) != 0u && inv > 0.0) { scale = inv; }
  let d = p.dstRow0 + r;
  if ((p.flags & INV_NORM) != 0u) { invNorm[d] = inv; }
  if ((p.flags & STATS) != 0u) {
    let row = p.rowBase + r;
    if (bad) { atomicMin(&stats[2], row); } else { atomicMax(&stats[0], top); }
    if (top == 0u) { atomicMin(&stats[1], row); }
    if (top > 0u && top < TINY) { atomicMin(&stats[3], row); }
    if (huge) { atomicMin(&stats[4], row); }
    if (top > F16_MAX && !bad) { atomicMin(&stats[5], row); }
  }
  if ((p.flags & NO_WRITE) != 0u) { return; }
  let db = d * p.dstStride;
  if (div != 1.0) { // a row divided by its largest |value| first
    if ((p.flags & DST_F16) != 0u) {
      for (var j = 0u; j < p.dstStride / 2u; j++) {
        let c = 2u * j;
        var a = 0.0;
        var b = 0.0;
        if (c < p.cols) { a = value(sb + c) / div * scale; }
        if (c + 1u < p.cols) { b = value(sb + c + 1u) / div * scale; }
        dst[(db >> 1u) + j] = pack2x16float(vec2<f32>(a, b));
      }
    } else {
      for (var c = 0u; c < p.cols; c++) { dst[db + c] = bitcast<u32>(value(sb + c) / div * scale); }
      for (var c = p.cols; c < p.dstStride; c++) { dst[db + c] = 0u; }
    }
    return;
  }
  if ((p.flags & DST_F16) != 0u) {
    // dstStride is even: row db/2 .. in u32 words, two halves each.
    for (var j = 0u; j < p.dstStride / 2u; j++) {
      let c = 2u * j;
      var a = 0.0;
      var b = 0.0;
      if (c < p.cols) { a = value(sb + c) * scale; }
      if (c + 1u < p.cols) { b = value(sb + c + 1u) * scale; }
      dst[(db >> 1u) + j] = pack2x16float(vec2<f32>(a, b));
    }
  } else {
    for (var c = 0u; c < p.cols; c++) { dst[db + c] = bitcast<u32>(value(sb + c) * scale); }
    for (var c = p.cols; c < p.dstStride; c++) { dst[db + c] = 0u; }
  }
}
