import assert from "node:assert/strict";
import { findLayerViolations, SHARED_PRIVATE } from "../scripts/check_layers.ts";
import { withDir } from "./_tmp.ts";

async function tree(root: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
    await Deno.writeTextFile(`${root}/${path}`, text);
  }
}

Deno.test("findLayerViolations() finds a library import of src/cli and a foreign private module", async () => {
  await withDir(async (root) => {
    await tree(root, {
      "mod.ts": `export * from "./src/cli/_cli.ts";\n`,
      "src/cli/run.ts": `import { a } from "../kmeans/a.ts";\nimport { h } from "./_help.ts";\n`,
      "src/cli/_help.ts": `export const h = 1;\n`,
      "src/kmeans/a.ts":
        `// import { x } from "../cli/run.ts"; a comment is fine\n/**\n * import { y } from "../cli/run.ts";\n */\nexport const a = 1;\nimport { t } from "../gpu/_template.ts";\nimport type { P } from "../topk/_private.ts";\n`,
      "src/topk/_private.ts": `export type P = number;\n`,
      "src/gpu/_template.ts": `export const t = 1;\n`,
      "src/train/x.ts": `const m = await import("../cli/run.ts");\n`,
    });
    assert.deepEqual(await findLayerViolations(root), [
      "mod.ts:1: imports src/cli/_cli.ts: nothing outside src/cli/ imports src/cli/",
      "mod.ts:1: imports src/cli/_cli.ts, private to src/cli/ (rename it without _ if it is shared)",
      "src/kmeans/a.ts:7: imports src/topk/_private.ts, private to src/topk/ (rename it without _ if it is shared)",
      "src/train/x.ts:1: imports src/cli/run.ts: nothing outside src/cli/ imports src/cli/",
    ]);
  });
});

Deno.test("findLayerViolations() finds an import circle between folders, once", async () => {
  await withDir(async (root) => {
    await tree(root, {
      "src/data/a.ts": `import { b } from "../model/b.ts";\nexport const a = b;\n`,
      "src/model/b.ts": `export { c as b } from "../train/c.ts";\n`,
      "src/train/c.ts": `import { a } from "../data/a.ts";\nexport const c = 1;\n`,
      "src/eval/d.ts": `import { a } from "../data/a.ts";\n`,
      "src/data/e.ts": `import { a } from "./a.ts";\n`,
    });
    assert.deepEqual(await findLayerViolations(root), [
      "src/data/a.ts:1: import circle between the folders src/data, src/model, src/train (src/data → src/model, src/model → src/train, src/train → src/data)",
    ]);
  });
});

Deno.test("findLayerViolations() passes this repository, with only the listed shared private modules", async () => {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  assert.deepEqual(await findLayerViolations(root), []);
  for (const path of SHARED_PRIVATE) {
    assert.ok((await Deno.stat(`${root}/${path}`)).isFile, `${path} exists`);
  }
});
