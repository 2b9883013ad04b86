/**
 * `deno task assign`: MLCD multi-label assignment — every embedding row gets its `l` most
 * similar cluster centers, exactly on the GPU (or approximately with hnswlib `--ann`).
 *
 * @example Usage
 * ```sh
 * deno task assign --input embeddings/ --centers centroids.npy --l 8 --out labels.arrow
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  formatSeconds,
  intFlag,
  joinNegativeValues,
  progress,
  runCli,
  UsageError,
} from "./_cli.ts";
import { checkOutputFiles, type OutputFile } from "./_paths.ts";
import { checkRows } from "../matrix/matrix.ts";
import { createGpu } from "../gpu/gpu.ts";
import { listEmbeddingFiles, readEmbeddings, streamEmbeddings } from "../data/shards.ts";
import { openRowSource } from "../data/row_source.ts";
import { assignLabels } from "../topk/assign.ts";
import { scoresPath, writeLabels } from "../topk/labels_io.ts";
import { TOPK_MAX_K } from "../topk/topk_programs.ts";
import { DEFAULT_HNSW_EF } from "../ann/hnsw.ts";
import { readEmbeddingKeys } from "../data/clip_layout.ts";
import { ASSIGN_JOB_OPTIONS, ASSIGN_JOBS_HELP, assignJob, searchFlags } from "./_assign_jobs.ts";

const HELP = `Usage: deno task assign --input <file|dir>... --centers centroids.npy [options]

Gives every embedding row its l most similar cluster centers (MLCD's multi-label
assignment): exact fused GPU top-k by default, hnswlib HNSW with --ann.

Options:
  --input PATH        embedding file or directory (.npy float32/float16, Parquet or Arrow
                      list column; a clip-retrieval folder with img_emb/ and metadata/;
                      repeatable; required)
  --centers PATH      cluster centers (.npy or Arrow, C × d; required)
  --l N               labels per row, 1 ≤ N ≤ min(${TOPK_MAX_K}, C) (default 8)
  --metric M          cosine | ip (default cosine)
  --variant V         GPU kernel: auto | registers | tiled (default auto)
  --ann               approximate search with hnswlib (needs \`deno task setup\`)
  --ef N              hnswlib search breadth (default 2048)
  --column NAME       Parquet/Arrow column holding the embeddings (default: the first
                      list-of-float column)
  --batch-rows N      rows per GPU batch (default 65536)
  --out PATH          labels.parquet (key: the sample keys when the inputs have
                      clip-retrieval metadata, else id: the row index; labels:
                      list<uint32>, nearest first; scores: list<float32>; zstd: what
                      DuckDB, pandas and Spark open), labels.npy (uint32 n × l, scores
                      in labels.scores.npy) or labels.arrow (labels, scores:
                      FixedSizeList[l], and id: the sample keys when there are some)
  --json              print a JSON summary on stdout
  --help              show this help
${ASSIGN_JOBS_HELP}

Progress (rows/s, ETA) goes to stderr. Bad input prints one line on stderr and exits
with code 2, leaving no output file. Outputs are checked before the work and never
overwrite an input.`;

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args: joinNegativeValues(args),
    options: {
      input: { type: "string", multiple: true },
      centers: { type: "string" },
      l: { type: "string" },
      metric: { type: "string" },
      variant: { type: "string" },
      ann: { type: "boolean" },
      ef: { type: "string" },
      column: { type: "string" },
      "batch-rows": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
      ...ASSIGN_JOB_OPTIONS,
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (await assignJob(values)) return;
  const inputs = values.input ?? [];
  if (inputs.length === 0) throw new UsageError("Missing --input (see --help)");
  if (!values.centers) throw new UsageError("Missing --centers (see --help)");
  const { l, batchRows, metric, variant } = searchFlags(values);
  const out = values.out;
  if (out && !/\.(npy|parquet|arrow|feather|ipc)$/i.test(out)) {
    throw new UsageError(
      `Expected --out to end in .parquet, .npy, .arrow, .feather or .ipc but found ${out}`,
    );
  }
  const column = values.column;
  const ef = intFlag("ef", values.ef, DEFAULT_HNSW_EF, 1);
  const outputs: OutputFile[] = [];
  if (out !== undefined) {
    outputs.push({ flag: "--out", path: out });
    if (/\.npy$/i.test(out)) outputs.push({ flag: "--out (scores)", path: scoresPath(out) });
  }
  await checkOutputFiles("assign", outputs, [...inputs, values.centers]);
  const t0 = performance.now();
  const centers = await readEmbeddings([values.centers]);
  if (centers.rows === 0) {
    throw new RangeError(`Expected ${values.centers} to hold at least one row but found none`);
  }
  const nonZero = metric === "cosine" ? { nonZero: "cosine similarity" } : {};
  checkRows(centers, values.centers, nonZero);
  if (l > Math.min(TOPK_MAX_K, centers.rows)) {
    throw new RangeError(
      `Expected --l to be at most min(${TOPK_MAX_K}, centers) = ${
        Math.min(TOPK_MAX_K, centers.rows)
      } but found ${l}`,
    );
  }
  const files = await listEmbeddingFiles(inputs);
  // Sample keys from clip-retrieval metadata (deno task embed, LAION) become the labels' `key`
  // (Parquet) or `id` (Arrow) column; each metadata file's row count is checked against its
  // embedding file's before the work.
  const fileRows = (await openRowSource(files, column ? { column } : {})).slices.map((s) =>
    s.rowEnd
  );
  const ids = await readEmbeddingKeys(files, fileRows);
  let last = 0;
  let header = "";
  // The header goes out with the first progress line, once the input has been validated.
  const report = (done: number, total: number) => {
    if (header) {
      progress(header);
      header = "";
    }
    const now = performance.now();
    if (now - last < 1000 && done < total) return;
    last = now;
    const s = (now - t0) / 1000;
    const rate = done / Math.max(s, 1e-9);
    progress(
      `assign: ${done}/${total} rows  ${Math.round(rate)} rows/s  ETA ${
        formatSeconds((total - done) / Math.max(rate, 1e-9))
      }`,
    );
  };

  let result: { indices: Uint32Array; scores: Float32Array; rows: number; l: number };
  let adapter = "hnswlib (CPU)";
  if (values.ann) {
    const { annTopk, buildHnswIndex } = await import("../ann/hnsw.ts");
    progress(`assign: building the HNSW index over ${centers.rows} centers`);
    const index = await buildHnswIndex(centers, { metric });
    progress(`assign: index built in ${formatSeconds(index.buildSeconds)}`);
    const labels: Uint32Array[] = [], scores: Float32Array[] = [];
    let rows = 0;
    for await (
      const b of streamEmbeddings(files, column ? { batchRows, column } : { batchRows })
    ) {
      if (b.matrix.cols !== centers.cols) {
        throw new TypeError(
          `Expected embeddings of ${b.file} to have ${centers.cols} columns like the centers but found ${b.matrix.cols}`,
        );
      }
      checkRows(b.matrix, b.file, { firstRow: b.fileRowStart, ...nonZero });
      const r = annTopk(index, b.matrix, { k: l, ef });
      labels.push(r.indices);
      scores.push(r.scores);
      rows += b.matrix.rows;
      report(rows, rows);
    }
    if (rows === 0) {
      throw new RangeError(`Expected ${files.join(", ")} to hold at least one row but found none`);
    }
    const cat = <T extends Uint32Array | Float32Array>(parts: T[], make: (n: number) => T): T => {
      const o = make(rows * l);
      let off = 0;
      for (const p of parts) {
        o.set(p as never, off);
        off += p.length;
      }
      return o;
    };
    result = {
      indices: cat(labels, (n) => new Uint32Array(n)),
      scores: cat(scores, (n) => new Float32Array(n)),
      rows,
      l,
    };
  } else {
    const gpu = await createGpu();
    adapter = gpu.info.description;
    header =
      `assign: ${files.length} file(s), ${centers.rows} centers × ${centers.cols}, l = ${l}, ${metric}, on ${adapter}`;
    result = await assignLabels(gpu, files, centers, {
      l,
      metric,
      variant,
      batchRows,
      ...(column ? { column } : {}),
      onProgress: report,
    });
    gpu.destroy();
  }
  if (out) {
    if (ids && ids.length !== result.rows) {
      throw new TypeError(`Expected ${result.rows} keys in the metadata but found ${ids.length}`);
    }
    await writeLabels(out, ids ? { ...result, ids } : result);
  }
  const seconds = (performance.now() - t0) / 1000;
  progress(
    `assign: ${result.rows} rows in ${formatSeconds(seconds)} (${
      Math.round(result.rows / Math.max(seconds, 1e-9))
    } rows/s)`,
  );
  if (values.json) {
    console.log(JSON.stringify({
      rows: result.rows,
      l,
      centers: centers.rows,
      cols: centers.cols,
      metric,
      ann: values.ann ?? false,
      seconds,
      adapter,
      out: out ?? null,
      scores: out && /\.npy$/i.test(out) ? scoresPath(out) : null,
    }));
  }
}

if (import.meta.main) await runCli("assign", main);
