// The block layout of an IVF center index. The centers, grouped by cell, are stored in
// block slots of `kb` centers (one uniform binding each, as the scoring kernel reads them);
// cell c takes ceil(size / kb) consecutive slots from blockStart[c].
//   layout (one invocation): blockStart[] and each slot's record (64 u32 per slot, see
//           src/ivf/_programs.ts REC): its cell, centers, first-of-cell flag and index;
//           unused slots get cell 0xffffffff and 0 centers;
//   gather: sorted position q (a center, grouped by cell, ascending index within a cell)
//           goes to grouped position g = slot * kb + i % kb (slot = blockStart[c] + i / kb,
//           i its rank in the cell): its `words` u32 (f32 values or packed halves) into dst
//           when the slot lies in [slotLo, slotHi) (the bound buffer), and (its 0.5‖c‖²,
//           its index) into cinfo[g]. One dispatch per source chunk × destination buffer.
struct Params { count: u32, slots: u32, kb: u32, srcBase: u32, srcRows: u32, slotLo: u32, slotHi: u32, words: u32 }
@group(0) @binding(0) var<uniform> p: Params;
//@if:layout
@group(0) @binding(1) var<storage, read> off: array<u32>;
@group(0) @binding(2) var<storage, read_write> blockStart: array<u32>;
@group(0) @binding(3) var<storage, read_write> rec: array<u32>;
@compute @workgroup_size(1)
fn main() {
  var b = 0u;
  for (var c = 0u; c < p.count; c++) {
    let m = off[c + 1u] - off[c];
    blockStart[c] = b;
    let nb = (m + p.kb - 1u) / p.kb;
    for (var i = 0u; i < nb; i++) {
      let o = b * 64u;
      rec[o + 3u] = c;
      rec[o + 4u] = min(p.kb, m - i * p.kb);
      rec[o + 5u] = select(0u, 1u, i == 0u);
      rec[o + 6u] = b;
      b++;
    }
  }
  for (; b < p.slots; b++) {
    let o = b * 64u;
    rec[o + 3u] = 0xffffffffu;
    rec[o + 4u] = 0u;
    rec[o + 5u] = 0u;
    rec[o + 6u] = b;
  }
}
//@end
//@if:gather
@group(0) @binding(1) var<storage, read> order: array<u32>;
@group(0) @binding(2) var<storage, read> cellOf: array<u32>;
@group(0) @binding(3) var<storage, read> off: array<u32>;
@group(0) @binding(4) var<storage, read> blockStart: array<u32>;
@group(0) @binding(5) var<storage, read> src: array<u32>;
@group(0) @binding(6) var<storage, read> srcCn: array<u32>;
@group(0) @binding(7) var<storage, read_write> dst: array<u32>;
@group(0) @binding(8) var<storage, read_write> cinfo: array<vec2<u32>>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let q = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (q >= p.count) { return; }
  let e = order[q];
  if (e < p.srcBase || e >= p.srcBase + p.srcRows) { return; }
  let c = cellOf[e];
  let i = q - off[c];
  let slot = blockStart[c] + i / p.kb;
  if (slot < p.slotLo || slot >= p.slotHi) { return; }
  let g = slot * p.kb + i % p.kb;
  let o = (g - p.slotLo * p.kb) * p.words;
  let s = (e - p.srcBase) * p.words;
  for (var w = 0u; w < p.words; w++) { dst[o + w] = src[s + w]; }
  cinfo[g] = vec2<u32>(srcCn[e - p.srcBase], e);
}
//@end
