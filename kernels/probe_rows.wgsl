// Linear probe, one invocation per row of a block of logits (rows × Cp, written by
// probe_logits.wgsl; classes C..Cp are padding):
//   train (mode 0): overwrites the row with the softmax cross-entropy gradient
//     g[r, c] = (softmax(l)[c] − [c = y]) / batch, y = y[idx[idxOff + r]], and 0 for padding;
//   eval (mode 1): writes the row's prediction (argmax, the first of equal maxima) and its
//     negative log-likelihood −(l[y] − max − log Σ exp(l − max)) to out[2·(rowStart + r)..],
//     y = y[rowStart + r].
// Three loops over the C classes: 3·C + 16 stays under llvmpipe's 65,535-iteration cap
// (C is checked on CPU adapters).
struct Params {
  rows: u32,
  C: u32,
  Cp: u32,
  idxOff: u32,
  rowStart: u32,
  mode: u32,
  batch: f32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
@group(0) @binding(3) var<storage, read> y: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let r = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (r >= p.rows) { return; }
  let base = r * p.Cp;
  var mx = logits[base];
  var am = 0u;
  for (var c = 1u; c < p.C; c = c + 1u) {
    let v = logits[base + c];
    if (v > mx) { mx = v; am = c; }
  }
  var total = 0.0;
  for (var c = 0u; c < p.C; c = c + 1u) { total = total + exp(logits[base + c] - mx); }
  if (p.mode == 0u) {
    let label = y[idx[p.idxOff + r]];
    for (var c = 0u; c < p.C; c = c + 1u) {
      var t = 0.0;
      if (c == label) { t = 1.0; }
      logits[base + c] = (exp(logits[base + c] - mx) / total - t) / p.batch;
    }
    for (var c = p.C; c < p.Cp; c = c + 1u) { logits[base + c] = 0.0; }
  } else {
    let row = p.rowStart + r;
    out[2u * row] = f32(am);
    out[2u * row + 1u] = -(logits[base + y[row]] - mx - log(total));
  }
}
