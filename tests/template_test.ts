import assert from "node:assert/strict";
import { specialize } from "../src/gpu/template.ts";
import { wgslUniformFields } from "../src/gpu/uniforms.ts";
import {
  accumulateProgram,
  finalizeProgram,
  objectiveProgram,
  type UpdateKind,
} from "../src/kmeans/_update_programs.ts";
import type { Program } from "../src/gpu/program.ts";

Deno.test("specialize() keeps the //@if: blocks and //@t: lines whose tags are given", () => {
  const code = [
    "a",
    "//@if:plain",
    "plain block",
    "//@end",
    "  //@if:weighted,both",
    "  weighted block",
    "  //@end",
    "  //@t:plain plain line",
    "  //@t:weighted weighted line",
    "z",
  ].join("\n");
  assert.equal(specialize(code, false, {}, ["plain"]), "a\nplain block\n  plain line\nz");
  assert.equal(
    specialize(code, false, {}, ["weighted"]),
    "a\n  weighted block\n  weighted line\nz",
  );
  assert.equal(specialize(code, false, {}, ["both"]), "a\n  weighted block\nz");
  assert.equal(specialize(code, false), "a\nz");
});

Deno.test("specialize() combines //@if: blocks with //@f16 lines and repeats", () => {
  const code = "//@if:w\nx //@f32\n//@f16 h\ny{j} //@j\n//@end\nconst D4: u32 = 1u;";
  assert.equal(specialize(code, false, { D4: 2 }, ["w"]), "x\ny0\ny1\nconst D4: u32 = 2u;");
  assert.equal(specialize(code, true, { D4: 2 }, ["w"]), "h\ny0\ny1\nconst D4: u32 = 2u;");
  assert.equal(specialize(code, true, { D4: 2 }, []), "const D4: u32 = 2u;");
});

Deno.test("specialize() throws on a nested, unopened or unclosed //@if: block", () => {
  assert.throws(() => specialize("//@if:a\n//@if:b\n//@end\n//@end", false), {
    name: "Error",
    message: "Expected //@end before a nested //@if: in a template",
  });
  assert.throws(() => specialize("x\n//@end", false), {
    name: "Error",
    message: "Expected //@if: before //@end in a template",
  });
  assert.throws(() => specialize("//@if:a\nx", false), {
    name: "Error",
    message: "Expected //@end after //@if: in a template",
  });
});

/** `name: type` of every storage binding of the program's WGSL, in binding order. */
function storageBindings(program: Program): string[] {
  assert.equal(typeof program.code, "function", "WGSL is built lazily, on a cache miss");
  const code = (program.code as () => string)();
  assert.doesNotMatch(code, /\/\/@(if|end|t:)/);
  const out: string[] = [];
  for (const m of code.matchAll(/@binding\((\d+)\) var<storage[^>]*> (\w+)/g)) {
    assert.equal(Number(m[1]), out.length + 1);
    out.push(m[2]!);
  }
  const fields = Object.entries(program.uniformStruct!.fields).map(([n, t]) => `${n}: ${t}`);
  assert.deepEqual(wgslUniformFields(code), fields);
  return out;
}

Deno.test("k-means update templates expand to the plain or weighted bindings, weighted last", () => {
  const acc = (kind: UpdateKind, f16: boolean) =>
    accumulateProgram(kind, f16, { rows: 10, kBase: 0, kc: 3, d4: 2, scale: 1 });
  const fin = (kind: UpdateKind) =>
    finalizeProgram(kind, { kc: 3, kBase: 0, d4: 2, spherical: 0, invScale: 1 });
  for (const f16 of [false, true]) {
    assert.deepEqual(storageBindings(acc("plain", f16)), ["x", "assign", "counts", "sums"]);
    assert.deepEqual(storageBindings(acc("weighted", f16)), [
      "x",
      "assign",
      "counts",
      "sums",
      "weight",
      "wsum",
    ]);
  }
  assert.deepEqual(storageBindings(fin("plain")), ["counts", "sums", "cent", "cn"]);
  assert.deepEqual(storageBindings(fin("weighted")), ["counts", "sums", "cent", "cn", "wsum"]);
  assert.deepEqual(storageBindings(objectiveProgram("plain", 5, true)), ["score", "partial"]);
  assert.deepEqual(storageBindings(objectiveProgram("weighted", 5, false)), [
    "score",
    "partial",
    "weight",
  ]);
  const keys = new Set(
    [acc("plain", false), acc("plain", true), acc("weighted", false), acc("weighted", true)]
      .map((p) => p.shaderKey),
  );
  assert.equal(keys.size, 4, "each variant has its own pipeline-cache key");
  assert.notEqual(fin("plain").shaderKey, fin("weighted").shaderKey);
});
