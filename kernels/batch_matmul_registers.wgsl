// Batched C[b] = op(A[b]) · op(B[b]), the body of a tfjs WebGPU program (tfjs adds the
// bindings A, B, result and the Uniforms struct; src/model/_batch_matmul.ts). Each invocation
// computes a 4×4 block of C in registers, without workgroup memory or barriers (what the
// software adapter runs fastest), looping over k in [kStart, kEnd). Out-of-range rows and
// columns read the last valid one and are not written. Tags: an/at (A as [M, K] or [K, M]),
// bn/bt (B as [K, N] or [N, K]).
fn main(index : i32) {
  let M = uniforms.m;
  let N = uniforms.n;
  let K = uniforms.k;
  let mb = (M + 3) / 4;
  let nb = (N + 3) / 4;
  if (index >= uniforms.batch * mb * nb) {
    return;
  }
  let b = index / (mb * nb);
  let rem = index % (mb * nb);
  let i0 = (rem / nb) * 4;
  let j0 = (rem % nb) * 4;
  let i1 = min(i0 + 1, M - 1);
  let i2 = min(i0 + 2, M - 1);
  let i3 = min(i0 + 3, M - 1);
  let j1 = min(j0 + 1, N - 1);
  let j2 = min(j0 + 2, N - 1);
  let j3 = min(j0 + 3, N - 1);
  let aBase = b * M * K;
  let bBase = b * K * N;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var k = uniforms.kStart; k < uniforms.kEnd; k++) {
    //@t:an let a = vec4<f32>(A[aBase + i0 * K + k], A[aBase + i1 * K + k], A[aBase + i2 * K + k], A[aBase + i3 * K + k]);
    //@t:at let a = vec4<f32>(A[aBase + k * M + i0], A[aBase + k * M + i1], A[aBase + k * M + i2], A[aBase + k * M + i3]);
    //@t:bn let v = vec4<f32>(B[bBase + k * N + j0], B[bBase + k * N + j1], B[bBase + k * N + j2], B[bBase + k * N + j3]);
    //@t:bt let v = vec4<f32>(B[bBase + j0 * K + k], B[bBase + j1 * K + k], B[bBase + j2 * K + k], B[bBase + j3 * K + k]);
    acc0 += a.x * v;
    acc1 += a.y * v;
    acc2 += a.z * v;
    acc3 += a.w * v;
  }
  let cBase = b * M * N;
  for (var r = 0; r < 4; r++) {
    let i = i0 + r;
    if (i >= M) {
      break;
    }
    var acc = acc0;
    if (r == 1) { acc = acc1; }
    if (r == 2) { acc = acc2; }
    if (r == 3) { acc = acc3; }
    for (var c = 0; c < 4; c++) {
      if (j0 + c < N) {
        result[cBase + i * N + j0 + c] = acc[c];
      }
    }
  }
}
