import assert from "node:assert/strict";
import {
  checkLayerPicture,
  findLayerViolations,
  layerPicture,
  LAYERS,
  PICTURE_FILE,
} from "../scripts/check_layers.ts";
import { withDir } from "./_tmp.ts";

/** The layer of `folder` in LAYERS (the messages name it). */
const layerOf = (folder: string) => LAYERS.findIndex((l) => l.includes(folder));

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
      "src/kmeans/a.ts:6: imports src/gpu/_template.ts, private to src/gpu/ (rename it without _ if it is shared)",
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
      `src/model/b.ts:1: imports src/train/c.ts: src/model (layer 2) imports only the layers below it, and src/train is layer ${
        layerOf("src/train")
      } (see docs/architecture.md)`,
      "src/data/a.ts:1: import circle between the folders src/data, src/model, src/train (src/data → src/model, src/model → src/train, src/train → src/data)",
    ]);
  });
});

Deno.test("findLayerViolations() finds an import against the layer order, and a folder in no layer", async () => {
  await withDir(async (root) => {
    await tree(root, {
      "train.ts": `export * from "./src/train/t.ts";\n`,
      "src/gpu/a.ts": `import { b } from "../data/b.ts";\nexport const a = b;\n`,
      "src/data/b.ts": `export const b = 1;\n`,
      "src/topk/t.ts": `import { m } from "../model/m.ts";\nexport const t = m;\n`,
      "src/model/m.ts": `export const m = 1;\n`,
      "src/train/t.ts": `import { b } from "../data/b.ts";\nexport const t = b;\n`,
      "src/widgets/w.ts": `import { b } from "../data/b.ts";\nexport const w = b;\n`,
    });
    assert.deepEqual(await findLayerViolations(root), [
      "src/widgets/: src/widgets is in no layer (add it to LAYERS in scripts/check_layers.ts and to docs/architecture.md)",
      "src/gpu/a.ts:1: imports src/data/b.ts: src/gpu (layer 1) imports only the layers below it, and src/data is layer 3 (see docs/architecture.md)",
      "src/topk/t.ts:1: imports src/model/m.ts: src/topk (layer 2) imports only the layers below it, and src/model is layer 2 (see docs/architecture.md)",
    ]);
  });
});

Deno.test("checkLayerPicture() wants the picture of LAYERS in docs/architecture.md", async () => {
  await withDir(async (root) => {
    assert.match((await checkLayerPicture(root))[0]!, /^docs\/architecture\.md: missing/);
    const picture = layerPicture();
    await tree(root, { [PICTURE_FILE]: `# Architecture\n\ntext\n\n${picture}\n\nmore\n` });
    assert.deepEqual(await checkLayerPicture(root), []);
    const moved = layerPicture([...LAYERS.slice(0, -2), [...LAYERS.at(-2)!, "src/eval"], [
      "src/cli",
    ]]);
    await tree(root, { [PICTURE_FILE]: `# Architecture\n\n${moved}\n` });
    const [line] = await checkLayerPicture(root);
    assert.ok(line!.startsWith("docs/architecture.md:3: the picture of the layers differs"), line);
    assert.ok(line!.endsWith(picture), line);
  });
  const lines = layerPicture().split("\n");
  assert.equal(lines.length, LAYERS.length + 7);
  assert.equal(lines[3], `${LAYERS.length - 1} │ cli`);
  assert.equal(lines.at(-5), "0 │ src/*.ts  options  fs  matrix  random  testing");
});

Deno.test("findLayerViolations() and checkLayerPicture() pass this repository", async () => {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  assert.deepEqual(await findLayerViolations(root), []);
  assert.deepEqual(await checkLayerPicture(root), []);
});
