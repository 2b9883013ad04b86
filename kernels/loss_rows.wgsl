// MLCD loss per-row pass, one workgroup per batch row of a block. Reads the row's cosines
// cos[r, 0..S) written by loss_logits.wgsl, computes the stable log-sum-exps of the
// positives and of the negatives (every sampled class that is not one of the row's
// positives), the row's loss, and overwrites the row in place with the loss
// coefficients ∂L/∂cos (already divided by the batch size for the mean), ready for the
// backward GEMMs. Positives are marked with a sentinel below any cosine while the
// negatives are reduced. The n × S buffer never leaves the GPU.
//
//   mlcd: L = softplus(LSE_P(−s·φ(c_p))) + softplus(LSE_N(s·c_j))
//   mlc:  L = LSE_{P∪N}(s·c) − (s/l) Σ_P c_p            (no margin)
//   arc φ(c) = c·cos m − sinθ·sin m while c > −cos m (θ + m < π), else c − m·sin m;
//   cosine φ(c) = c − m;  sinθ = sqrt(max(1 − c², 1e-12)) guards θ → 0 and θ → π.
struct Params {
  rows: u32, S: u32, l: u32, rowStart: u32,
  scale: f32, margin: f32, invN: f32, mode: u32, // mode: bit 0 cosine margin, bit 1 mlc
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read_write> posCos: array<f32>;
@group(0) @binding(4) var<storage, read_write> perSample: array<f32>;

const WG = 64u;
const SENTINEL = -1.0e30;
const NEG_BIG = -3.0e38;
var<workgroup> red: array<f32, 64>;

fn reduceMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

fn log1pSmall(y: f32) -> f32 {
  if (y < 1e-4) { return y * (1.0 - y * (0.5 - y / 3.0)); }
  return log(1.0 + y);
}

// log(1 + exp(x)), stable for any x.
fn softplus(x: f32) -> f32 {
  return max(x, 0.0) + log1pSmall(exp(-abs(x)));
}

fn sinTheta(c: f32) -> f32 {
  return sqrt(max(1.0 - c * c, 1e-12));
}

fn phi(c: f32) -> f32 {
  let m = p.margin;
  if ((p.mode & 1u) != 0u) { return c - m; }
  if (c > -cos(m)) { return c * cos(m) - sinTheta(c) * sin(m); }
  return c - m * sin(m);
}

fn dphi(c: f32) -> f32 {
  let m = p.margin;
  if ((p.mode & 1u) != 0u) { return 1.0; }
  if (c > -cos(m)) { return cos(m) + sin(m) * c / sinTheta(c); }
  return 1.0;
}

// Logit of a positive: −s·φ(c) for mlcd, s·c for mlc.
fn posLogit(c: f32) -> f32 {
  if ((p.mode & 2u) != 0u) { return p.scale * c; }
  return -p.scale * phi(c);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let gr = p.rowStart + row;
  let gb = row * p.S;
  let pb = gr * p.l;
  let s = p.scale;
  let mlc = (p.mode & 2u) != 0u;

  // 1. Positives: remember their cosines, mark them in the row.
  for (var t = lid; t < p.l; t += WG) {
    let j = pos[pb + t];
    posCos[pb + t] = g[gb + j];
    g[gb + j] = SENTINEL;
  }
  storageBarrier();

  // 2. Negatives: stable log-sum-exp of s·c.
  var mx = NEG_BIG;
  for (var j = lid; j < p.S; j += WG) {
    let c = g[gb + j];
    if (c > -2.0) { mx = max(mx, s * c); }
  }
  let mN = reduceMax(mx, lid);
  var acc = 0.0;
  for (var j = lid; j < p.S; j += WG) {
    let c = g[gb + j];
    if (c > -2.0) { acc += exp(s * c - mN); }
  }
  let sumN = reduceSum(acc, lid);
  let hasNeg = sumN > 0.0;
  var lseN = NEG_BIG;
  if (hasNeg) { lseN = mN + log(sumN); }

  // 3. Positives: stable log-sum-exp of their logits.
  var mp = NEG_BIG;
  var sumC = 0.0;
  for (var t = lid; t < p.l; t += WG) {
    let c = posCos[pb + t];
    mp = max(mp, posLogit(c));
    sumC += c;
  }
  let mP = reduceMax(mp, lid);
  var accP = 0.0;
  for (var t = lid; t < p.l; t += WG) { accP += exp(posLogit(posCos[pb + t]) - mP); }
  let lseP = mP + log(reduceSum(accP, lid));
  let sumPosCos = reduceSum(sumC, lid);

  // 4. Row loss and the normalisers of the coefficients.
  var loss: f32;
  var zN: f32; // negatives: coef = s·exp(s·c − zN)
  var zP: f32; // positives: exp(a − zP)
  if (mlc) {
    var lseAll = lseP;
    if (hasNeg) {
      let hi = max(lseP, lseN);
      lseAll = hi + log1pSmall(exp(-abs(lseP - lseN)));
    }
    loss = lseAll - s * sumPosCos / f32(p.l);
    zN = lseAll;
    zP = lseAll;
  } else {
    let spP = softplus(lseP);
    var spN = 0.0;
    if (hasNeg) { spN = softplus(lseN); }
    loss = spP + spN;
    zN = spN;
    zP = spP;
  }
  if (lid == 0u) { perSample[gr] = loss; }

  // 5. Coefficients: negatives first, then (after a barrier) the marked positives.
  for (var j = lid; j < p.S; j += WG) {
    let c = g[gb + j];
    if (c > -2.0) { g[gb + j] = s * exp(s * c - zN) * p.invN; }
  }
  storageBarrier();
  for (var t = lid; t < p.l; t += WG) {
    let j = pos[pb + t];
    let c = posCos[pb + t];
    let e = exp(posLogit(c) - zP);
    var coef: f32;
    if (mlc) {
      coef = s * e - s / f32(p.l);
    } else {
      coef = -s * dphi(c) * e;
    }
    g[gb + j] = coef * p.invN;
  }
}
