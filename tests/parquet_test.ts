// The Parquet modules (src/data/parquet.ts) against DuckDB, an independent Parquet implementation: files DuckDB wrote (snappy
// and zstd, several row groups, fixed and variable list columns, float and double) are read
// here, and DuckDB reads back what the toolkit writes (labels, metadata, float16 embeddings).
import assert from "node:assert/strict";
import {
  gatherParquetRows,
  openParquet,
  openParquetRows,
  parquetEmbeddingShape,
  readParquetKeys,
  readParquetLabels,
  readParquetRows,
  streamParquetRows,
  writeParquetEmbeddings,
  writeParquetLabels,
  writeParquetMetadata,
} from "../src/data/parquet.ts";
import { readEmbeddings, streamEmbeddings } from "../src/data/embedding_files.ts";
import { gatherRows, openRowSource, partOf, streamRows } from "../src/data/row_source.ts";
import { writeNpy } from "../src/data/npy.ts";
import { withDir } from "./_tmp.ts";
import { DUCKDB, duckdb, lit } from "./_duckdb.ts";
import { peerTest } from "./_peer.ts";

/** The value DuckDB writes at row i, column j (exact in float32 and float16). */
const value = (i: number, j: number) => ((i * 7 + j * 3) % 17) / 8 - 1;
const n = 5001, d = 7;

async function duckFiles(dir: string, codec: string): Promise<void> {
  const rows = `FROM range(${n}) t(i)`;
  const list = `list_transform(range(${d}), j -> ((i * 7 + j * 3) % 17) / 8 - 1)`;
  const opts = `(FORMAT parquet, COMPRESSION ${codec}, ROW_GROUP_SIZE 2048)`;
  await duckdb([
    `COPY (SELECT lpad(i::VARCHAR, 9, '0') AS key, 'https://x/' || i || '.jpg' AS url,
      'caption ' || i AS caption, (i % 10)::FLOAT / 10 AS similarity ${rows})
      TO ${lit(`${dir}/meta.parquet`)} ${opts}`,
    `COPY (SELECT lpad(i::VARCHAR, 9, '0') AS key, ${list}::FLOAT[${d}] AS emb ${rows})
      TO ${lit(`${dir}/fixed.parquet`)} ${opts}`,
    `COPY (SELECT i AS id, ${list}::FLOAT[] AS emb ${rows})
      TO ${lit(`${dir}/variable.parquet`)} ${opts}`,
    `COPY (SELECT 'x' AS name, ${list}::DOUBLE[] AS emb ${rows})
      TO ${lit(`${dir}/double.parquet`)} ${opts}`,
  ]);
}

for (const codec of ["snappy", "zstd"]) {
  peerTest({
    name: `parquet: reads what DuckDB wrote (${codec}, row groups of 2048, fixed/variable lists)`,
    needs: [DUCKDB],
    fn: () =>
      withDir(async (dir) => {
        await duckFiles(dir, codec);
        const [[meta]] = await duckdb([
          `SELECT count(*), min(compression) FROM parquet_metadata(${lit(`${dir}/fixed.parquet`)})`,
        ]) as [[[number, string]]];
        assert.equal(meta[1], codec.toUpperCase());
        using f = await openParquet(`${dir}/fixed.parquet`);
        assert.equal(f.rows, n);
        assert.ok(f.rowGroups.length >= 2, `${f.rowGroups.length} row groups`);
        assert.deepEqual(
          f.columns.map((c) => c.name),
          ["key", "emb"],
        );

        const keys = await readParquetKeys(`${dir}/meta.parquet`);
        assert.equal(keys.length, n);
        assert.equal(keys[0], "000000000");
        assert.equal(keys[n - 1], String(n - 1).padStart(9, "0"));
        assert.deepEqual(keys, Array.from({ length: n }, (_, i) => String(i).padStart(9, "0")));

        const want = Float32Array.from(
          { length: n * d },
          (_, k) => value(Math.floor(k / d), k % d),
        );
        for (const file of ["fixed", "variable", "double"]) {
          const path = `${dir}/${file}.parquet`;
          const shape = await parquetEmbeddingShape(path);
          assert.equal(shape.column, "emb");
          assert.equal(shape.cols, d);
          assert.equal(shape.rows, n);
          assert.equal(shape.dtype, file === "double" ? "f8" : "f4");
          assert.deepEqual((await readParquetRows(path)).data, want);
          // A range across row groups, streamed in batches smaller than a group.
          let at = 1300;
          for await (
            const b of streamParquetRows(path, { rowStart: 1300, rowEnd: 4517, batchRows: 500 })
          ) {
            assert.equal(b.fileRow, at);
            assert.ok(b.matrix.rows <= 500);
            assert.deepEqual(b.matrix.data, want.subarray(at * d, (at + b.matrix.rows) * d));
            at += b.matrix.rows;
          }
          assert.equal(at, 4517);
          const rows = new Uint32Array([0, 2047, 2048, 2048, 4999, 5000]);
          const g = await gatherParquetRows(path, rows);
          rows.forEach((r, i) =>
            assert.deepEqual(g.data.subarray(i * d, (i + 1) * d), want.subarray(r * d, (r + 1) * d))
          );
        }
      }),
  });
}

peerTest({
  name: "parquet: DuckDB reads back labels (keys in order, labels, scores), ids and metadata",
  needs: [DUCKDB],
  fn: () =>
    withDir(async (dir) => {
      const rows = 300, l = 3;
      const keys = Array.from({ length: rows }, (_, i) => `s${(rows - i) * 7}`);
      const indices = Uint32Array.from({ length: rows * l }, (_, k) => (k * 31) % 97);
      const scores = Float32Array.from({ length: rows * l }, (_, k) => 1 - (k % l) / 4 - k / 1e4);
      await writeParquetLabels(`${dir}/labels.parquet`, { indices, scores, l, keys }, {
        rowGroupRows: 64,
      });
      await writeParquetLabels(`${dir}/ids.parquet`, { indices, scores, l, firstId: 1000 });
      await writeParquetMetadata(`${dir}/meta.parquet`, {
        key: ["a", "b", "c"],
        url: ["https://x/a", null, "https://x/c"],
        caption: ["cat", "dog", null],
      });
      const [labels, codecs, ids, meta, types] = await duckdb([
        `SELECT key, labels, scores FROM read_parquet(${lit(`${dir}/labels.parquet`)})`,
        `SELECT DISTINCT row_group_id, compression FROM parquet_metadata(${
          lit(`${dir}/labels.parquet`)
        }) ORDER BY 1`,
        `SELECT id FROM read_parquet(${lit(`${dir}/ids.parquet`)})`,
        `SELECT * FROM read_parquet(${lit(`${dir}/meta.parquet`)})`,
        `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(${
          lit(`${dir}/labels.parquet`)
        }))`,
      ]) as unknown[][][];
      assert.equal(labels!.length, rows);
      labels!.forEach((row, i) => {
        const [key, lab, sc] = row as [string, number[], number[]];
        assert.equal(key, keys[i]);
        assert.deepEqual(lab, Array.from(indices.subarray(i * l, (i + 1) * l)));
        assert.deepEqual(sc, Array.from(scores.subarray(i * l, (i + 1) * l)));
      });
      assert.equal(codecs!.length, Math.ceil(rows / 64));
      assert.ok(codecs!.every((r) => r[1] === "ZSTD"), JSON.stringify(codecs));
      assert.deepEqual(types, [["key", "VARCHAR"], ["labels", "UINTEGER[]"], [
        "scores",
        "FLOAT[]",
      ]]);
      assert.deepEqual(
        ids!.map((r) => Number(r[0])),
        Array.from({ length: rows }, (_, i) => 1000 + i),
      );
      assert.deepEqual(meta, [["a", "https://x/a", "cat"], ["b", null, "dog"], [
        "c",
        "https://x/c",
        null,
      ]]);
      // And the toolkit reads its own file back the same.
      const back = await readParquetLabels(`${dir}/labels.parquet`);
      assert.deepEqual(back.ids, keys);
      assert.deepEqual(back.indices, indices);
      assert.deepEqual(back.scores, scores);
      assert.equal(back.l, l);
    }),
});

peerTest({
  name: "parquet: float16 embeddings (fixed and variable) as DuckDB reads them",
  needs: [DUCKDB],
  fn: () =>
    withDir(async (dir) => {
      const rows = 37, cols = 5;
      // Values that float16 rounds: DuckDB must see the rounded ones, the toolkit too.
      const data = Float32Array.from({ length: rows * cols }, (_, k) => Math.sin(k) * 3.3);
      const half = new Float32Array(new Float16Array(data));
      for (const variable of [false, true]) {
        const path = `${dir}/h${variable}.parquet`;
        await writeParquetEmbeddings(path, { data, rows, cols }, {
          dtype: "f2",
          variable,
          rowGroupRows: 10,
          keys: Array.from({ length: rows }, (_, i) => `k${i}`),
        });
        const shape = await parquetEmbeddingShape(path);
        assert.deepEqual([shape.dtype, shape.fixed, shape.cols], ["f2", !variable, cols]);
        assert.deepEqual((await readParquetRows(path)).data, half);
        const [back] = await duckdb([`SELECT key, embedding FROM read_parquet(${lit(path)})`]);
        assert.equal(back!.length, rows);
        back!.forEach(([key, emb], i) => {
          assert.equal(key, `k${i}`);
          assert.deepEqual(emb, Array.from(half.subarray(i * cols, (i + 1) * cols)));
        });
      }
    }),
});

peerTest({
  name: "parquet: bad input is one line naming the file: nulls, ragged lists, missing key, counts",
  needs: [DUCKDB],
  fn: () =>
    withDir(async (dir) => {
      const opts = "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 2048)";
      await duckdb([
        `COPY (SELECT i AS key, CASE WHEN i = 3000 THEN NULL ELSE [1.0, 2.0]::FLOAT[] END AS emb
          FROM range(5000) t(i)) TO ${lit(`${dir}/nullrow.parquet`)} ${opts}`,
        `COPY (SELECT i AS key, [1.0, CASE WHEN i = 5 THEN NULL ELSE 2.0 END]::FLOAT[] AS emb
          FROM range(10) t(i)) TO ${lit(`${dir}/nullvalue.parquet`)} ${opts}`,
        `COPY (SELECT i AS key, CASE WHEN i = 4000 THEN [1.0]::FLOAT[] ELSE [1.0, 2.0]::FLOAT[] END
          AS emb FROM range(5000) t(i)) TO ${lit(`${dir}/ragged.parquet`)} ${opts}`,
        `COPY (SELECT 'u' || i AS url FROM range(5) t(i)) TO ${
          lit(`${dir}/nokey.parquet`)
        } ${opts}`,
      ]);
      const oneLine = async (p: Promise<unknown>, type: ErrorConstructor, re: RegExp) => {
        const e = await p.then(() => null, (e) => e);
        assert.ok(e instanceof type, `expected a ${type.name} but got ${e}`);
        assert.match(e.message, re);
        assert.ok(!e.message.includes("\n"), e.message);
      };
      await oneLine(
        readParquetRows(`${dir}/nullrow.parquet`),
        RangeError,
        /nullrow\.parquet row 3000 .*null/,
      );
      await oneLine(
        readParquetRows(`${dir}/nullvalue.parquet`),
        RangeError,
        /nullvalue\.parquet row 5/,
      );
      await oneLine(
        readParquetRows(`${dir}/ragged.parquet`),
        RangeError,
        /ragged\.parquet row 4000 .*found 1: ragged/,
      );
      await oneLine(
        readParquetKeys(`${dir}/nokey.parquet`),
        TypeError,
        /nokey\.parquet to have a "key" column but found columns: url/,
      );
      await oneLine(
        readParquetKeys(`${dir}/ragged.parquet`, { rows: 5001, embeddings: "img_emb_0.npy" }),
        RangeError,
        /ragged\.parquet to hold 5001 rows like img_emb_0\.npy but found 5000/,
      );
      await oneLine(readParquetRows(`${dir}/nokey.parquet`), TypeError, /list-of-float column/);
      // Truncated: the tail (footer) cut off, or only the middle kept.
      const bytes = await Deno.readFile(`${dir}/ragged.parquet`);
      for (
        const [name, part] of [["tail", bytes.subarray(0, bytes.length - 100)], [
          "head",
          bytes.subarray(0, 3),
        ]] as const
      ) {
        await Deno.writeFile(`${dir}/${name}.parquet`, part);
        await oneLine(
          readParquetKeys(`${dir}/${name}.parquet`),
          RangeError,
          new RegExp(`${name}\\.parquet.*(truncated|PAR1)`),
        );
      }
    }),
});

Deno.test("parquet: own round trip without DuckDB (fixed/variable, f4/f2, empty, row groups)", () =>
  withDir(async (dir) => {
    const rows = 130, cols = 3;
    const data = Float32Array.from({ length: rows * cols }, (_, k) => k / 4 - 20);
    for (const variable of [false, true]) {
      const path = `${dir}/e${variable}.parquet`;
      await writeParquetEmbeddings(path, { data, rows, cols }, {
        variable,
        rowGroupRows: 50,
        column: "v",
      });
      using f = await openParquet(path);
      assert.deepEqual(f.rowGroups, [50, 50, 30]);
      assert.deepEqual((await readParquetRows(f, { column: "v" })).data, data);
      assert.deepEqual(
        (await readParquetRows(path, { rowStart: 49, rowEnd: 51 })).data,
        data.subarray(49 * cols, 51 * cols),
      );
    }
    await writeParquetLabels(`${dir}/empty.parquet`, {
      indices: new Uint32Array(0),
      scores: new Float32Array(0),
      l: 2,
    });
    const empty = await readParquetLabels(`${dir}/empty.parquet`);
    assert.equal(empty.rows, 0);
    await assert.rejects(
      writeParquetLabels(`${dir}/bad.parquet`, {
        indices: new Uint32Array(3),
        scores: new Float32Array(3),
        l: 2,
      }),
      TypeError,
    );
    await assert.rejects(Deno.stat(`${dir}/bad.parquet`), Deno.errors.NotFound);
    assert.deepEqual([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-")), []);
  }));

Deno.test("parquet: embedding files through the row engine (readEmbeddings, streamEmbeddings, streamRows, gatherRows)", () =>
  withDir(async (dir) => {
    // Three Parquet files (fixed f4 after a key column, variable f2, fixed f2) around one .npy,
    // row groups of 9 rows, so batches and gathers cross row groups and files; the values are
    // exact in float16, so every format holds the same rows.
    const cols = 5, sizes = [37, 1, 23, 64];
    const rows = sizes.reduce((a, b) => a + b, 0);
    const data = Float32Array.from({ length: rows * cols }, (_, k) => ((k * 7) % 97) / 4 - 12);
    const files: string[] = [];
    let at = 0;
    for (const [i, n] of sizes.entries()) {
      const m = { data: data.slice(at * cols, (at + n) * cols), rows: n, cols };
      const path = `${dir}/e${i}.${i === 2 ? "npy" : "parquet"}`;
      if (i === 2) await writeNpy(path, m.data, [n, cols]);
      else {
        await writeParquetEmbeddings(path, m, {
          rowGroupRows: 9,
          ...(i === 0 ? { keys: Array.from({ length: n }, (_, r) => `k${r}`) } : { dtype: "f2" }),
          ...(i === 1 ? { variable: true } : {}),
        });
      }
      files.push(path);
      at += n;
    }
    const seen: string[] = [];
    assert.deepEqual(
      (await readEmbeddings(files, { onFile: (_, n, dtype) => seen.push(`${n} ${dtype}`) })).data,
      data,
    );
    assert.deepEqual(seen, ["37 f4", "1 f2", "23 f4", "64 f2"]);
    for (const batchRows of [1, 4, 10, 200]) {
      const got = new Float32Array(rows * cols);
      let next = 0;
      for await (const b of streamEmbeddings(files, { batchRows })) {
        assert.equal(b.rowStart, next, `batchRows ${batchRows}`);
        assert.ok(b.matrix.rows <= batchRows);
        got.set(b.matrix.data, b.rowStart * cols);
        next += b.matrix.rows;
      }
      assert.equal(next, rows);
      assert.deepEqual(got, data, `streamEmbeddings, batchRows ${batchRows}`);
    }
    const source = await openRowSource(files);
    for (let index = 0; index < 3; index++) {
      const part = partOf(source, { index, count: 3 });
      const got = new Float32Array(part.rows * cols);
      for await (const b of streamRows(part, { batchRows: 6, reuse: true })) {
        got.set(b.matrix.data, b.rowStart * cols);
      }
      const want = data.subarray(part.globalStart * cols, (part.globalStart + part.rows) * cols);
      assert.deepEqual(got, want, `part ${index}`);
    }
    // Sorted rows with repeats: within a row group, across row groups (skipping some), across
    // files, and the last row.
    const want = [0, 0, 3, 8, 9, 10, 17, 35, 36, 37, 38, 39, 40, 47, 61, 62, 63, 64, 90, 124, 124];
    const gathered = await gatherRows(source, Uint32Array.from(want));
    want.forEach((r, i) =>
      assert.deepEqual(
        gathered.data.subarray(i * cols, (i + 1) * cols),
        data.subarray(r * cols, (r + 1) * cols),
        `gathered row ${r}`,
      )
    );
    // Row-range reads of one file: ahead within a row group, ahead past row groups, back.
    {
      using file = await openParquetRows(files[3]!);
      assert.deepEqual([file.rows, file.cols, file.dtype], [64, 5, "f2"]);
      const base = 61;
      for (const [r, n] of [[50, 10], [60, 2], [62, 1], [5, 3], [0, 64], [63, 1], [20, 0]]) {
        assert.deepEqual(
          await file.read(r!, n!),
          data.subarray((base + r!) * cols, (base + r! + n!) * cols),
          `read(${r}, ${n})`,
        );
      }
      await assert.rejects(file.read(60, 5), /Expected rows \[60, 65\) within the 64 rows/);
    }
    // The same rows of a part, gathered in part coordinates.
    const part = partOf(source, { index: 1, count: 2 });
    const local = Uint32Array.from([0, 1, 20, 21, 40, part.rows - 1]);
    const g = await gatherRows(part, local);
    local.forEach((r, i) =>
      assert.deepEqual(
        g.data.subarray(i * cols, (i + 1) * cols),
        data.subarray((part.globalStart + r) * cols, (part.globalStart + r + 1) * cols),
        `part row ${r}`,
      )
    );
  }));

Deno.test("parquet: the GPU core, data, kmeans, topk, labels and loss import no Parquet code statically", async () => {
  const root = new URL("..", import.meta.url).pathname;
  for (const folder of ["gpu", "data", "kmeans", "topk", "labels", "loss"]) {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `${root}src/${folder}/mod.ts`],
      stdout: "piped",
    }).output();
    assert.equal(info.code, 0);
    const graph = JSON.parse(new TextDecoder().decode(info.stdout));
    type Mod = {
      specifier: string;
      dependencies?: { specifier: string; isDynamic?: boolean; code?: { specifier: string } }[];
    };
    const modules = new Map((graph.modules as Mod[]).map((m) => [m.specifier, m]));
    const found: string[] = [];
    const seen = new Set<string>();
    const todo = [graph.roots[0] as string];
    while (todo.length) {
      const m = modules.get(todo.pop()!);
      if (!m || seen.has(m.specifier)) continue;
      seen.add(m.specifier);
      if (/\/src\/data\/(?!load_)[^/]*parquet[^/]*\.ts$/.test(m.specifier)) found.push(m.specifier);
      for (const d of m.dependencies ?? []) {
        if (d.isDynamic) continue;
        if (d.specifier.includes("parquet-wasm")) {
          found.push(`${m.specifier} imports ${d.specifier}`);
        } else if (d.code) todo.push(d.code.specifier);
      }
    }
    assert.deepEqual(found, [], folder);
    assert.ok(seen.size > 2, `${folder}: the import graph was read`);
  }
});
