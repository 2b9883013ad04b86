// Stable counting sort of m elements by a u32 key in [0, cells) (keys ≥ cells are dropped),
// in four passes over blocks of `bsize` consecutive elements (nb blocks):
//   count:   cnt[key * nb + b] = elements of block b with that key (cnt cleared by the host);
//   scan:    per key, an exclusive scan of its block counts, the key's total in off[key + 1];
//   prefix:  one invocation turns off[] into key offsets (off[0] = 0, off[cells] = total);
//   scatter: block b writes its elements, in order, to order[off[key] + cnt[key * nb + b]++].
// Every loop is bounded by bsize, nb or cells (each ≤ 65535, llvmpipe's loop cap), no
// atomics: the order is deterministic, and elements of one key keep their input order.
struct Params { m: u32, nb: u32, bsize: u32, cells: u32 }
@group(0) @binding(0) var<uniform> p: Params;
//@if:count
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> cnt: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let b = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (b >= p.nb) { return; }
  let e0 = b * p.bsize;
  let e1 = min(p.m, e0 + p.bsize);
  for (var e = e0; e < e1; e++) {
    let c = keys[e];
    if (c < p.cells) { cnt[c * p.nb + b] += 1u; }
  }
}
//@end
//@if:scan
@group(0) @binding(1) var<storage, read_write> cnt: array<u32>;
@group(0) @binding(2) var<storage, read_write> off: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let c = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (c >= p.cells) { return; }
  var run = 0u;
  for (var b = 0u; b < p.nb; b++) {
    let t = cnt[c * p.nb + b];
    cnt[c * p.nb + b] = run;
    run += t;
  }
  off[c + 1u] = run;
}
//@end
//@if:prefix
@group(0) @binding(1) var<storage, read_write> off: array<u32>;
@compute @workgroup_size(1)
fn main() {
  off[0] = 0u;
  for (var c = 1u; c <= p.cells; c++) { off[c] += off[c - 1u]; }
}
//@end
//@if:scatter
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> cnt: array<u32>;
@group(0) @binding(3) var<storage, read> off: array<u32>;
@group(0) @binding(4) var<storage, read_write> order: array<u32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let b = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (b >= p.nb) { return; }
  let e0 = b * p.bsize;
  let e1 = min(p.m, e0 + p.bsize);
  for (var e = e0; e < e1; e++) {
    let c = keys[e];
    if (c < p.cells) {
      let at = c * p.nb + b;
      order[off[c] + cnt[at]] = e;
      cnt[at] += 1u;
    }
  }
}
//@end
