// Issue 21, items 5 and 11: what a directory input means (src/data/embedding_files.ts
// readEmbeddingDirectory, one rule for every reader), and no input file read twice.
import assert from "node:assert/strict";
import { listEmbeddingFiles, readEmbeddingDirectory } from "../src/data/embedding_files.ts";
import { indexImages } from "../src/data/image_loader.ts";
import { writeNpy } from "../src/data/npy.ts";
import { writeShard } from "../src/data/webdataset.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const CLUSTER = new URL("../src/cli/cluster.ts", import.meta.url).pathname;
const rows = (n: number) => new Float32Array(n * 3).map((_, i) => 1 + (i % 5));

Deno.test("item 5: a directory means its embedding files, or its img_emb/ alone; never both", async () => {
  await withDir(async (dir) => {
    // clip-retrieval's layout beside a stray file: img_emb/ is read, the rest named as skipped
    await Deno.mkdir(`${dir}/emb/img_emb`, { recursive: true });
    await Deno.mkdir(`${dir}/emb/metadata`);
    await writeNpy(`${dir}/emb/img_emb/img_emb_0.npy`, rows(4), [4, 3]);
    await Deno.writeTextFile(`${dir}/emb/notes.txt`, "");
    const d = await readEmbeddingDirectory(`${dir}/emb`);
    assert.deepEqual(d.files, [`${dir}/emb/img_emb/img_emb_0.npy`]);
    assert.deepEqual(d.skipped, [`${dir}/emb/notes.txt`]);
    // embedding files beside img_emb/: either reading would leave rows out, so neither
    await writeNpy(`${dir}/emb/a.npy`, rows(2), [2, 3]);
    await assert.rejects(() => listEmbeddingFiles([`${dir}/emb`]), {
      name: "RangeError",
      message: new RegExp(
        `Expected ${dir}/emb to hold either embedding files or clip-retrieval's img_emb/ folder but found both \\(${dir}/emb/a\\.npy and ${dir}/emb/img_emb/\\)`,
      ),
    });
    // an embed that has not finished (part 1 of 2 has no manifest) is not read
    await Deno.remove(`${dir}/emb/a.npy`);
    await Deno.writeTextFile(`${dir}/emb/part-0-of-2.json`, "{}");
    await assert.rejects(() => listEmbeddingFiles([`${dir}/emb`]), {
      name: "RangeError",
      message: new RegExp(`found 1 of 2 parts \\(${dir}/emb/part-1-of-2\\.json is missing\\)`),
    });
    await Deno.remove(`${dir}/emb/part-0-of-2.json`);

    // The CLI: the output guard knows img_emb/ is read (refused before any work), and the
    // notice says what was read and what was skipped.
    const x = ["--input", `${dir}/emb`, "--k", "2", "--niter", "1"];
    const [guard, run] = await Promise.all([
      runDeno([CLUSTER, ...x, "--out", `${dir}/emb/img_emb/c.npy`]),
      runDeno([CLUSTER, ...x, "--out", `${dir}/c.npy`]),
    ]);
    assert.equal(guard.code, 2, guard.stderr);
    assert.deepEqual(errLines(guard.stderr).length, 1, guard.stderr);
    assert.match(
      guard.stderr,
      /Refusing to write --out .*emb\/img_emb\/c\.npy into the input directory .*emb, where it would be read/,
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      errLines(run.stderr)[0],
      `cluster: read 1 embedding file(s) from ${dir}/emb/img_emb (clip-retrieval layout of ${dir}/emb); skipped ${dir}/emb/notes.txt`,
    );
    assert.deepEqual(
      [...Deno.readDirSync(`${dir}/emb/img_emb`)].map((e) => e.name),
      ["img_emb_0.npy"],
    );
  });
});

Deno.test("item 11: the same input file given twice is refused", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/in`);
    await writeNpy(`${dir}/in/x.npy`, rows(4), [4, 3]);
    await Deno.symlink(`${dir}/in/x.npy`, `${dir}/link.npy`);
    const twice = (why: string) =>
      new RegExp(`^Expected every input file once but found .*x\\.npy twice \\(${why}\\)`);
    await assert.rejects(() => listEmbeddingFiles([`${dir}/in/x.npy`, `${dir}/in/x.npy`]), {
      name: "RangeError",
      message: twice("named twice"),
    });
    await assert.rejects(() => listEmbeddingFiles([`${dir}/in/x.npy`, `${dir}/in`]), {
      name: "RangeError",
      message: twice(`from ${dir}/in/x\\.npy and from ${dir}/in`),
    });
    await assert.rejects(() => listEmbeddingFiles([`${dir}/link.npy`, `${dir}/in`]), {
      name: "RangeError",
    });
    // image shards too
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]); // only indexed, never decoded
    await writeShard(`${dir}/s.tar`, [{ key: "a", files: new Map([["png", png]]) }]);
    await assert.rejects(() => indexImages([`${dir}/s.tar`, `${dir}/s.tar`]), {
      name: "RangeError",
      message: /found .*s\.tar twice: its samples would count twice/,
    });
    // the CLI: exit 2, one line, before any work
    const r = await runDeno([
      CLUSTER,
      ...["--input", `${dir}/in/x.npy`, "--input", `${dir}/in`, "--k", "2"],
      ...["--out", `${dir}/c.npy`],
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(errLines(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /^mlcd cluster: Expected every input file once/);
  });
});
