import assert from "node:assert/strict";
import { findGpuRuleViolations } from "../scripts/check_gpu_rules.ts";
import { withDir } from "./_tmp.ts";

// Built by concatenation so that this file does not itself break the rules it tests.
const SUBMIT = "gpu.device.queue" + ".submit([enc.finish()]);";
const CPU = "is" + "CpuAdapter(gpu)";
const FALLBACK = "gpu.info.is" + "FallbackAdapter";

/** Runs `fn` in a fresh directory holding `files` (path → text). */
function withTree(files: Record<string, string>, fn: (root: string) => Promise<void>) {
  return withDir(async (root) => {
    for (const [path, text] of Object.entries(files)) {
      await Deno.mkdir(`${root}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${path}`, text);
    }
    await fn(root);
  }, "mlcd_rules_");
}

Deno.test("findGpuRuleViolations() finds a planted raw submit and adapter tests outside src/gpu/", async () => {
  await withTree({
    "src/gpu/program.ts": `export function submit() { ${SUBMIT} }\nconst c = ${CPU};\n`,
    "src/kmeans/x.ts": `const a = 1;\n${SUBMIT}\n`,
    "bench/b.ts": `if (${FALLBACK}) {}\n`,
    "tests/t.ts": `// ${CPU} in a comment is fine\nconst v = ${CPU};\n`,
  }, async (root) => {
    assert.deepEqual(await findGpuRuleViolations(root), [
      "src/kmeans/x.ts:2: raw queue.submit outside src/gpu/ (use submit() from src/gpu/program.ts)",
      "tests/t.ts:2: adapter test outside src/gpu/ (read gpu.quirks instead)",
      "bench/b.ts:1: adapter test outside src/gpu/ (read gpu.quirks instead)",
    ]);
  });
});

Deno.test("findGpuRuleViolations() finds hand-packed uniforms everywhere, src/gpu/ included", async () => {
  const U32 = "uniforms" + ": new Uint32Array([rows, d, 0, 0]),";
  const U8 = "uniforms" + ":new Uint8Array(u),";
  const F32 = "uniforms" + " :  new Float32Array ([0.5, 0, 0, 0]),";
  const TYPED = "uniforms: PARAMS.pack({ rows, d }),";
  await withTree({
    "src/gpu/normalize_rows.ts": `const p = {\n  ${U32}\n};\n`,
    "src/kmeans/_kernels.ts": `const p = { ${TYPED} };\nconst q = { ${U8} };\n`,
    "bench/b.ts": `// ${U32} in a comment is fine\nconst p = { ${F32} };\n`,
  }, async (root) => {
    const msg = "hand-packed uniforms (declare a uniformStruct() and pass its pack())";
    assert.deepEqual(await findGpuRuleViolations(root), [
      `src/gpu/normalize_rows.ts:2: ${msg}`,
      `src/kmeans/_kernels.ts:2: ${msg}`,
      `bench/b.ts:2: ${msg}`,
    ]);
  });
});

Deno.test("findGpuRuleViolations() finds a bench or example importing a private _*.ts module", async () => {
  const PRIVATE = `import { progress } from "../src/cli/` + `_cli.ts";`;
  await withTree({
    "bench/b.ts": `${PRIVATE}\nimport { topk } from "../src/topk/topk.ts";\n`,
    "examples/e.ts": `import { kmeans } from "../mod.ts";\n${PRIVATE}\n`,
    "src/cli/demo.ts": PRIVATE, // commands may use the CLI internals
    "tests/t.ts": PRIVATE, // tests may test internals
  }, async (root) => {
    const msg = "a bench or example imports a private _*.ts module (use the public API)";
    assert.deepEqual(await findGpuRuleViolations(root), [
      `bench/b.ts:1: ${msg}`,
      `examples/e.ts:2: ${msg}`,
    ]);
  });
});

Deno.test("findGpuRuleViolations() passes this repository", async () => {
  const root = new URL("..", import.meta.url).pathname.replace(/\/+$/, "");
  assert.deepEqual(await findGpuRuleViolations(root), []);
});

Deno.test("scripts/check_gpu_rules.ts exits 1 and names the file on a violation", async () => {
  await withTree({ "examples/e.ts": `${SUBMIT}\n` }, async (root) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        new URL("../scripts/check_gpu_rules.ts", import.meta.url).pathname,
        root,
      ],
    }).output();
    assert.equal(out.code, 1);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /^check_gpu_rules: examples\/e\.ts:1: raw queue\.submit/,
    );
  });
});
