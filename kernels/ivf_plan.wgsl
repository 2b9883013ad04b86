// IVF plan: after the (row, probe) pairs of a batch are sorted by cell (off[c]..off[c+1]),
// fills every block slot's record with the batch: the indirect dispatch size (workgroups of
// `tile` pairs, 0 for an unused slot or a cell no row probes), the cell's pair range, and
// the batch's first row, list length and k. Record words as in ivf_score.wgsl.
struct Params { slots: u32, cells: u32, tile: u32, rowBase: u32, np: u32, k: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> off: array<u32>;
@group(0) @binding(2) var<storage, read_write> rec: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let b = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (b >= p.slots) { return; }
  let o = b * 64u;
  let c = rec[o + 3u];
  var start = 0u;
  var pairs = 0u;
  if (c < p.cells && rec[o + 4u] > 0u) {
    start = off[c];
    pairs = off[c + 1u] - start;
  }
  rec[o] = min((pairs + p.tile - 1u) / p.tile, 65535u);
  rec[o + 1u] = 1u;
  rec[o + 2u] = 1u;
  rec[o + 7u] = start;
  rec[o + 8u] = pairs;
  rec[o + 9u] = p.rowBase;
  rec[o + 10u] = p.np;
  rec[o + 11u] = p.k;
}
