// Objective partial sums, plain or weighted (a template: specialize() keeps the lines
// tagged with the variant): one workgroup of 256 invocations; invocation i adds the scores
// (weighted: weight × score) of rows i, i + 256, ... of the bound chunk into partial[i]
// (written when p.first, else added), a fixed order, so the objective is deterministic. The
// host sums the 256 partials.
struct Params { rows: u32, first: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> score: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
//@t:weighted @group(0) @binding(3) var<storage, read> weight: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  //@t:plain for (var i = lid; i < p.rows; i += 256u) { s += score[i]; }
  //@t:weighted for (var i = lid; i < p.rows; i += 256u) { s += weight[i] * score[i]; }
  if (p.first != 0u) { partial[lid] = s; } else { partial[lid] = partial[lid] + s; }
}
