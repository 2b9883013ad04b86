// Lays rows out in slice windows for the sliced register kernels (src/gpu/register_slices.ts):
// row c of the `rows` rows starting at `srcRow0` (each `stride` 16-byte units) is cut into
// `count` slices of `width` units (the last slice `lastWidth`), and slice t of the rows goes to
// window `window0 + t` (4096 units, 64 KiB each), row after row: unit j of slice t of row c lands
// at dst[(window0 + t) * 4096 + c * width_t + j]. The units are copied as raw bits (f32 or
// packed f16 alike). One invocation per unit of the source rows.
struct Params { rows: u32, stride: u32, srcRow0: u32, window0: u32, width: u32, count: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * 64u + lid;
  if (i >= p.rows * p.stride) { return; }
  let c = i / p.stride;
  let u = i - c * p.stride;
  let t = min(u / p.width, p.count - 1u);
  let w = select(p.width, p.stride - (p.count - 1u) * p.width, t == p.count - 1u);
  dst[(p.window0 + t) * 4096u + c * w + (u - t * p.width)] = src[(p.srcRow0 + c) * p.stride + u];
}
