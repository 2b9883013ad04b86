// Merges `lists` partial top-k lists per row (part[(list * nq + row) * k + t], each sorted)
// into the row's running list state[row * k + t], which is read first when has_state != 0.
// Order: score descending, then index ascending, so any partition of the keys merges to
// the same result. One invocation per row.
struct Params { nq: u32, k: u32, lists: u32, has_state: u32 }
const KMAX = 64u;
const NEG = -3.4028235e38;
const NONE = 0xffffffffu;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part_s: array<f32>;
@group(0) @binding(2) var<storage, read> part_i: array<u32>;
@group(0) @binding(3) var<storage, read_write> state_s: array<f32>;
@group(0) @binding(4) var<storage, read_write> state_i: array<u32>;

fn better(s: f32, i: u32, s2: f32, i2: u32) -> bool {
  return s > s2 || (s == s2 && i < i2);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (row >= p.nq) { return; }
  let k = p.k;
  var ts: array<f32, KMAX>;
  var ti: array<u32, KMAX>;
  for (var x = 0u; x < k; x++) {
    if (p.has_state != 0u) {
      ts[x] = state_s[row * k + x];
      ti[x] = state_i[row * k + x];
    } else {
      ts[x] = NEG;
      ti[x] = NONE;
    }
  }
  for (var l = 0u; l < p.lists; l++) {
    let o = (l * p.nq + row) * k;
    for (var x = 0u; x < k; x++) {
      let s = part_s[o + x];
      let i = part_i[o + x];
      // Each list is sorted: once an entry misses the cut, the rest of the list does too.
      if (i == NONE || !better(s, i, ts[k - 1u], ti[k - 1u])) { break; }
      var pos = k - 1u;
      while (pos > 0u && better(s, i, ts[pos - 1u], ti[pos - 1u])) {
        ts[pos] = ts[pos - 1u];
        ti[pos] = ti[pos - 1u];
        pos--;
      }
      ts[pos] = s;
      ti[pos] = i;
    }
  }
  for (var x = 0u; x < k; x++) {
    state_s[row * k + x] = ts[x];
    state_i[row * k + x] = ti[x];
  }
}
