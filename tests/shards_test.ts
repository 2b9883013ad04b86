import assert from "node:assert/strict";
import {
  listEmbeddingFiles,
  readEmbeddings,
  readNpy,
  streamEmbeddings,
  writeNpy,
} from "../src/data/mod.ts";
import { writeShards, type WriteShardsOptions } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

/** img_emb_0.npy (f4), img_emb_1.npy (f2), img_emb_2.arrow, … of random rows. */
const IMG_EMB: WriteShardsOptions = {
  name: (i) => `img_emb_${i}`,
  formats: ["npy", "npy-f16", "arrow"],
};

Deno.test("listEmbeddingFiles() lists embedding files in natural order and keeps plain files", async () => {
  await withDir(async (dir) => {
    for (
      const name of ["img_emb_10.npy", "img_emb_2.npy", "img_emb_1.arrow", "b.feather", "c.ipc"]
    ) {
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array(1));
    }
    for (const name of ["notes.txt", ".hidden.npy", "x.npy.tmp-abc"]) {
      await Deno.writeFile(`${dir}/${name}`, new Uint8Array(1));
    }
    await Deno.mkdir(`${dir}/sub.npy`);
    const files = await listEmbeddingFiles([dir, `${dir}/notes.txt`]);
    assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), [
      "b.feather",
      "c.ipc",
      "img_emb_1.arrow",
      "img_emb_2.npy",
      "img_emb_10.npy",
      "notes.txt",
    ]);
  });
});

Deno.test("listEmbeddingFiles() throws NotFound naming the path and RangeError when nothing is found", async () => {
  await withDir(async (dir) => {
    await assert.rejects(() => listEmbeddingFiles([`${dir}/nope`]), {
      name: "NotFound",
      message: `No such file or directory: ${dir}/nope`,
    });
    await assert.rejects(() => listEmbeddingFiles([dir]), {
      name: "RangeError",
      message:
        `Expected at least one .npy, .arrow, .feather, .ipc, .parquet file in ${dir} but found none`,
    });
  });
});

Deno.test("readEmbeddings() refuses an input that is not a regular file or a directory", async () => {
  await withDir(async (dir) => {
    const fifo = `${dir}/f.npy`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success, "mkfifo failed");
    // A writer attached: opening the FIFO does not block, and it reads as 0 bytes.
    using _writer = await Deno.open(fifo, { read: true, write: true });
    const refused = (path: string, kind: string) => ({
      name: "TypeError",
      message: `Expected ${path} to be a regular file or a directory but found ${kind}`,
    });
    await assert.rejects(() => readEmbeddings([fifo]), refused(fifo, "a FIFO (named pipe)"));
    await assert.rejects(() => readNpy(fifo), refused(fifo, "a FIFO (named pipe)"));
    await writeNpy(`${dir}/a.npy`, new Float32Array(4), [2, 2]);
    await assert.rejects(() => readEmbeddings([dir]), refused(fifo, "a FIFO (named pipe)"));
    await assert.rejects(
      () => readEmbeddings(["/dev/null"]),
      refused("/dev/null", "a character device"),
    );
  });
});

Deno.test("readEmbeddings() concatenates npy (f4, f2) and Arrow shards like per-file reads", async () => {
  await withDir(async (dir) => {
    const { parts, data } = await writeShards(
      dir,
      { cols: 9, seed: 100 },
      [7, 1, 5, 0, 11, 3],
      IMG_EMB,
    );
    const seen: [string, number][] = [];
    const m = await readEmbeddings([dir], { onFile: (f, rows) => seen.push([f, rows]) });
    assert.deepEqual([m.rows, m.cols], [27, 9]);
    assert.deepEqual(m.data, data);
    assert.deepEqual(seen.map(([f, r]) => [f.slice(dir.length + 1), r]), [
      ["img_emb_0.npy", 7],
      ["img_emb_1.npy", 1],
      ["img_emb_2.arrow", 5],
      ["img_emb_3.npy", 0],
      ["img_emb_4.npy", 11],
      ["img_emb_5.arrow", 3],
    ]);
    assert.deepEqual((await readEmbeddings([`${dir}/img_emb_4.npy`])).data, parts[4]!.data);
    assert.deepEqual(await readNpy(`${dir}/img_emb_1.npy`), parts[1]);
  });
});

Deno.test("readEmbeddings() throws TypeError naming the file and both dimensions on a mismatch", async () => {
  await withDir(async (dir) => {
    await writeNpy(`${dir}/a_1.npy`, new Float32Array(8), [2, 4]);
    await writeNpy(`${dir}/a_2.npy`, new Float32Array(6), [2, 3]);
    await assert.rejects(() => readEmbeddings([dir]), {
      name: "TypeError",
      message:
        `Expected every embedding file to have 4 columns (as ${dir}/a_1.npy) but found 3 in ${dir}/a_2.npy`,
    });
    await assert.rejects(async () => {
      for await (const _ of streamEmbeddings([dir])) { /* drain */ }
    }, { name: "TypeError", message: /found 3 in .*a_2\.npy$/ });
  });
});

Deno.test("readEmbeddings() reports a corrupt shard by name", async () => {
  await withDir(async (dir) => {
    await writeNpy(`${dir}/a.npy`, new Float32Array(8), [2, 4]);
    const bytes = await Deno.readFile(`${dir}/a.npy`);
    await Deno.writeFile(`${dir}/b.npy`, bytes.subarray(0, bytes.length - 4));
    await assert.rejects(() => readEmbeddings([dir]), {
      name: "RangeError",
      message:
        `Expected ${dir}/b.npy to hold 32 data bytes for shape (2, 4) and dtype 'f4' but found 28 (truncated file)`,
    });
  });
});

Deno.test("streamEmbeddings() covers every row exactly once, in order, for odd batch sizes", async () => {
  await withDir(async (dir) => {
    const all = (await writeShards(dir, { cols: 5, seed: 100 }, [7, 1, 5, 0, 11, 3], IMG_EMB)).data;
    for (const batchRows of [1, 2, 3, 4, 7, 64]) {
      const got = new Float32Array(all.length);
      const count = new Uint8Array(all.length / 5);
      let next = 0;
      for await (const { matrix, rowStart, file } of streamEmbeddings([dir], { batchRows })) {
        assert.ok(matrix.rows >= 1 && matrix.rows <= batchRows, `batch of ${matrix.rows} rows`);
        assert.equal(matrix.cols, 5);
        assert.equal(rowStart, next, "batches arrive in order");
        assert.match(file, /img_emb_\d\.(npy|arrow)$/);
        got.set(matrix.data, rowStart * 5);
        for (let r = 0; r < matrix.rows; r++) count[rowStart + r]!++;
        next += matrix.rows;
      }
      assert.equal(next, 27);
      assert.ok(count.every((c) => c === 1), `batchRows ${batchRows}: each row once`);
      assert.deepEqual(got, all, `batchRows ${batchRows}`);
    }
  });
});

Deno.test("streamEmbeddings() splits one shard into batches that never span files", async () => {
  await withDir(async (dir) => {
    await writeShards(dir, { cols: 3, seed: 100 }, [5, 4], IMG_EMB);
    const batches: [number, number, string][] = [];
    for await (const b of streamEmbeddings([dir], { batchRows: 3 })) {
      batches.push([b.rowStart, b.matrix.rows, b.file.slice(dir.length + 1)]);
    }
    assert.deepEqual(batches, [
      [0, 3, "img_emb_0.npy"],
      [3, 2, "img_emb_0.npy"],
      [5, 3, "img_emb_1.npy"],
      [8, 1, "img_emb_1.npy"],
    ]);
  });
});

Deno.test("streamEmbeddings() throws RangeError for a bad batchRows", async () => {
  await assert.rejects(async () => {
    for await (const _ of streamEmbeddings(["."], { batchRows: 0 })) { /* drain */ }
  }, { name: "RangeError", message: "Expected batchRows to be a positive integer but found 0" });
});
