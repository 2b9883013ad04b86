// LAION's layout end to end (the CLI on the Parquet modules): a folder with
// img_emb/img_emb_<i>.npy (float16) and metadata/metadata_<i>.parquet (key, url, caption,
// similarity; snappy, several row groups), plus WebDataset shards holding the same keys:
// cluster → assign --out labels.parquet → train on the shards, the labels joined by key.
// Bad input (row counts that disagree, a truncated file, no key column, a ragged list column)
// is one line and exit 2, with nothing written.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { readNpy } from "../src/data/npy.ts";
import {
  openParquet,
  readParquetKeys,
  readParquetLabels,
  writeParquetEmbeddings,
  writeParquetMetadata,
} from "../src/data/parquet.ts";
import { errLines, runDeno } from "./_cli.ts";
import { makeMnistShards } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const cli = async (args: string[]) => {
  const r = await runDeno([`${ROOT}src/cli/${args[0]}`, ...args.slice(1)]);
  return { code: r.code, out: r.stdout, err: errLines(r.stderr).join("\n") };
};

/** Rows near one of `k` directions, rounded to float16 as LAION stores them. */
function clustered(rows: number, d: number, k: number, seed: number): Float32Array {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const out = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const c = r % k;
    for (let j = 0; j < d; j++) out[r * d + j] = (j % k === c ? 1 : 0) + 0.2 * (next() - 0.5);
  }
  return new Float32Array(new Float16Array(out));
}

/** float64 cosine top-l of every row against the centers. */
function topl(x: Float32Array, c: Float32Array, d: number, l: number) {
  const norm = (a: Float32Array, i: number) =>
    Math.hypot(...Array.from(a.subarray(i * d, (i + 1) * d)));
  const rows = x.length / d, k = c.length / d;
  return Array.from({ length: rows }, (_, i) => {
    const s = Array.from({ length: k }, (_, j) => {
      let dot = 0;
      for (let t = 0; t < d; t++) dot += x[i * d + t]! * c[j * d + t]!;
      return { j, s: dot / (norm(x, i) * norm(c, j)) };
    }).sort((a, b) => b.s - a.s);
    return s.slice(0, l);
  });
}

Deno.test("LAION layout: cluster → assign --out labels.parquet → train on shards joined by key → embed", () =>
  withDir(async (dir) => {
    const per = 40, d = 12, k = 4, l = 2;
    await Deno.mkdir(`${dir}/shards`);
    const shards = await makeMnistShards(`${dir}/shards`, { shards: 2, perShard: per, text: true });
    const laion = `${dir}/laion`;
    await Deno.mkdir(`${laion}/img_emb`, { recursive: true });
    await Deno.mkdir(`${laion}/metadata`, { recursive: true });
    const x = clustered(2 * per, d, k, 7);
    for (let i = 0; i < 2; i++) {
      await writeNpy(
        `${laion}/img_emb/img_emb_${i}.npy`,
        x.subarray(i * per * d, (i + 1) * per * d),
        [
          per,
          d,
        ],
        { dtype: "f2" },
      );
      const key = shards.keys.slice(i * per, (i + 1) * per);
      await writeParquetMetadata(`${laion}/metadata/metadata_${i}.parquet`, {
        key,
        url: key.map((s) => `https://example.com/${s}.jpg`),
        caption: key.map((s) => `sample ${s}`),
      }, { compression: "snappy", rowGroupRows: 16 });
    }

    let r = await cli(["cluster.ts", "--input", laion, "--k", String(k), "--out", `${dir}/c.npy`]);
    assert.equal(r.code, 0, r.err);
    r = await cli([
      "assign.ts",
      "--input",
      laion,
      "--centers",
      `${dir}/c.npy`,
      "--l",
      String(l),
      "--out",
      `${dir}/labels.parquet`,
    ]);
    assert.equal(r.code, 0, r.err);
    const lab = await readParquetLabels(`${dir}/labels.parquet`);
    assert.deepEqual(lab.ids, shards.keys);
    assert.equal(lab.l, l);
    const c = await readNpy(`${dir}/c.npy`);
    const want = topl(x, c.data, d, l);
    want.forEach((w, i) => {
      for (let j = 0; j < l; j++) {
        assert.ok(Math.abs(lab.scores[i * l + j]! - w[j]!.s) < 1e-4, `row ${i} score ${j}`);
      }
      if (w[0]!.s - w[1]!.s > 1e-3) assert.equal(lab.indices[i * l], w[0]!.j, `row ${i} top-1`);
    });

    // The same as two --shard jobs (Parquet, the default format): keys and labels in order.
    const partKeys: string[] = [], partLabels: number[] = [];
    for (const i of [0, 1]) {
      r = await cli([
        "assign.ts",
        "--input",
        laion,
        "--centers",
        `${dir}/c.npy`,
        "--l",
        String(l),
        "--shard",
        `${i}/2`,
        "--out",
        `${dir}/parts`,
      ]);
      assert.equal(r.code, 0, r.err);
      const p = await readParquetLabels(`${dir}/parts/part-${i}-of-2.parquet`);
      partKeys.push(...p.ids as string[]);
      partLabels.push(...p.indices);
    }
    assert.deepEqual(partKeys, shards.keys);
    assert.deepEqual(partLabels, [...lab.indices]);

    r = await cli([
      "train.ts",
      "--data",
      `${dir}/shards`,
      "--labels",
      `${dir}/labels.parquet`,
      "--encoder",
      "cnn",
      "--channels",
      "4",
      "--embed-dim",
      "8",
      "--image-size",
      "16",
      "--classes",
      String(k),
      "--l",
      String(l),
      "--batch-size",
      "40",
      "--epochs",
      "1",
      "--run-dir",
      `${dir}/run`,
      "--json",
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /joined by key: 80 matched, 0 sample\(s\) without a label, 0 label\(s\) without a sample/,
    );
    assert.equal(JSON.parse(r.out).step, 2);

    // embed writes the layout back: metadata_<i>.parquet with key, url and caption.
    r = await cli([
      "embed.ts",
      "--checkpoint",
      `${dir}/run`,
      "--data",
      `${dir}/shards`,
      "--out",
      `${dir}/emb`,
      "--rows-per-file",
      "50",
    ]);
    assert.equal(r.code, 0, r.err);
    const key: string[] = [], url: string[] = [], caption: string[] = [];
    for (const i of [0, 1]) {
      using f = await openParquet(`${dir}/emb/metadata/metadata_${i}.parquet`);
      assert.deepEqual(f.columns.map((c) => c.name), ["key", "url", "caption"]);
      for (let g = 0; g < f.rowGroups.length; g++) {
        const t = await f.readRowGroup(g);
        for (const [name, out] of [["key", key], ["url", url], ["caption", caption]] as const) {
          out.push(...(t.getChild(name)!.toArray() as string[]));
        }
      }
    }
    assert.deepEqual(key, shards.keys);
    assert.deepEqual(url, shards.keys.map((k) => `https://example.com/${k}.png`));
    assert.deepEqual(caption, Array.from(shards.labels, (y) => `digit ${y}`));
    assert.deepEqual(
      await readParquetKeys(`${dir}/emb/metadata/metadata_1.parquet`),
      shards.keys.slice(50),
    );
  }));

Deno.test("LAION layout: bad metadata or list columns are one line, exit 2, nothing written", () =>
  withDir(async (dir) => {
    const d = 6;
    const laion = `${dir}/laion`;
    await Deno.mkdir(`${laion}/img_emb`, { recursive: true });
    await Deno.mkdir(`${laion}/metadata`, { recursive: true });
    const x = clustered(30, d, 3, 3);
    await writeNpy(`${laion}/img_emb/img_emb_0.npy`, x.subarray(0, 20 * d), [20, d]);
    await writeNpy(`${laion}/img_emb/img_emb_1.npy`, x.subarray(20 * d), [10, d]);
    await writeNpy(`${dir}/c.npy`, x.subarray(0, 3 * d), [3, d]);
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const meta0 = `${laion}/metadata/metadata_0.parquet`,
      meta1 = `${laion}/metadata/metadata_1.parquet`;
    await writeParquetMetadata(meta0, { key: keys.slice(0, 20) });
    const assign = (input = laion, out = `${dir}/labels.parquet`) =>
      cli(["assign.ts", "--input", input, "--centers", `${dir}/c.npy`, "--l", "2", "--out", out]);
    const refused = async (re: RegExp, input?: string) => {
      const r = await assign(input);
      assert.equal(r.code, 2, r.err);
      assert.equal(r.err.split("\n").length, 1, r.err);
      assert.match(r.err, re);
      assert.equal(await Deno.stat(`${dir}/labels.parquet`).then(() => true, () => false), false);
    };
    // 11 keys for 10 rows: both files named.
    await writeParquetMetadata(meta1, { key: keys.slice(20).concat(["extra"]) });
    await refused(/metadata_1\.parquet to hold 10 rows like .*img_emb_1\.npy but found 11/);
    // The same in a --shard job whose part (rows 20..29) lies in the second file only.
    const job = await cli([
      "assign.ts",
      "--input",
      laion,
      "--centers",
      `${dir}/c.npy`,
      "--l",
      "2",
      "--shard",
      "2/3",
      "--out",
      `${dir}/jobs`,
    ]);
    assert.equal(job.code, 2, job.err);
    assert.match(
      job.err,
      /^mlcd assign: .*metadata_1\.parquet to hold 10 rows like .*img_emb_1\.npy but found 11$/,
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/jobs`)], [], "no part written");
    // No key column.
    await writeParquetEmbeddings(meta1, { data: new Float32Array(10), rows: 10, cols: 1 });
    await refused(/metadata_1\.parquet to have a "key" column but found columns: embedding/);
    // Truncated.
    await writeParquetMetadata(meta1, { key: keys.slice(20) });
    const bytes = await Deno.readFile(meta1);
    await Deno.writeFile(meta1, bytes.subarray(0, bytes.length - 9));
    await refused(/metadata_1\.parquet.*truncated/);

    // Embeddings in a Parquet list column: --column picks it; a ragged row is refused by row.
    const emb = `${dir}/emb.parquet`;
    await writeParquetEmbeddings(emb, { data: x, rows: 30, cols: d }, {
      column: "clip",
      keys,
      variable: true,
      rowGroupRows: 8,
    });
    let r = await cli([
      "assign.ts",
      "--input",
      emb,
      "--column",
      "clip",
      "--centers",
      `${dir}/c.npy`,
      "--l",
      "2",
      "--out",
      `${dir}/p.parquet`,
    ]);
    assert.equal(r.code, 0, r.err);
    const whole = await readParquetLabels(`${dir}/p.parquet`);
    assert.deepEqual(whole.ids, keys);
    // The --shard jobs write the same labels as parts: part 1 of 2 holds rows 15..29.
    r = await cli([
      "assign.ts",
      "--input",
      emb,
      "--centers",
      `${dir}/c.npy`,
      "--l",
      "2",
      "--shard",
      "1/2",
      "--format",
      "parquet",
      "--out",
      `${dir}/parts`,
    ]);
    assert.equal(r.code, 0, r.err);
    const part = await readParquetLabels(`${dir}/parts/part-1-of-2.parquet`);
    assert.deepEqual(part.ids, keys.slice(15));
    assert.deepEqual(part.indices, whole.indices.subarray(15 * 2));
    const ragged = x.slice(0, 29 * d + 2);
    // A ragged list column, which the toolkit's writer never makes: built with arrow + parquet-wasm.
    const arrow = await import("npm:apache-arrow@21.2.0");
    const pw = await import("npm:parquet-wasm@0.8.0");
    const offsets = Int32Array.from({ length: 31 }, (_, i) => Math.min(i * d, ragged.length));
    const child = arrow.makeData(
      { type: new arrow.Float32(), length: ragged.length, data: ragged } as never,
    );
    const list = arrow.makeData({
      type: new arrow.List(new arrow.Field("item", new arrow.Float32(), false)),
      length: 30,
      valueOffsets: offsets,
      child,
      nullCount: 0,
    } as never);
    const table = new arrow.Table({ emb: arrow.makeVector(list as never) });
    await Deno.writeFile(
      `${dir}/ragged.parquet`,
      pw.writeParquet(pw.Table.fromIPCStream(arrow.tableToIPC(table, "stream"))),
    );
    r = await cli([
      "cluster.ts",
      "--input",
      `${dir}/ragged.parquet`,
      "--k",
      "2",
      "--out",
      `${dir}/rc.npy`,
    ]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /^mlcd cluster: .*ragged\.parquet row 29 .*found 2: ragged list column$/);
    assert.equal(await Deno.stat(`${dir}/rc.npy`).then(() => true, () => false), false);
  }));
