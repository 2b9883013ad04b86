// `deno task embed`'s outputs as parts committed like the shard jobs' (src/jobs): part i of N
// is the samples [i·P, (i+1)·P) of the read order (P = --rows-per-file), written as
// img_emb/img_emb_<i>.npy and its metadata, then the manifest <out>/part-<i>-of-<N>.json, in
// one atomic commit. A rerun skips the parts whose manifest matches and finishes the others;
// readers refuse an <out> whose parts are not all there (src/data/embedding_files.ts).
import { basename, join } from "node:path";
import { metadataPathOf } from "../data/clip_layout.ts";
import { writeNpy } from "../data/npy.ts";
import { type SampleText, sampleTextColumns } from "../data/sample_text.ts";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  type Json,
  type ManifestKey,
  partStem,
  type PendingOutput,
  readManifest,
} from "../jobs/mod.ts";
import { UsageError } from "./_cli.ts";
import { pausePoint } from "../testing/pause_point.ts";

/** One output part of an embed. */
export interface EmbedPart {
  index: number;
  /** Its samples: ordinals [lo, hi). */
  lo: number;
  hi: number;
  npy: string;
  manifest: string;
  key: ManifestKey;
  /** "done": committed by an earlier run with the same key (skipped); "fresh": to do. */
  state: "done" | "fresh";
}

/** The parts of an embed into `out`, checked and ready. */
export interface EmbedPlan {
  out: string;
  parts: EmbedPart[];
  /** Files in `out` that belong to another embed (removed at the end, with --overwrite). */
  others: string[];
  /** The directories the plan created (removed by `removeEmptyDirs` when a run fails). */
  made: string[];
}

/**
 * The metadata output of the part whose embeddings go to `npy`: `metadata_<i>.parquet` with its
 * samples' keys, and their `url` and `caption` where `text` has them (clip-retrieval's layout).
 */
export function metadataOutput(
  npy: string,
  keys: string[],
  text?: Map<string, SampleText>,
): PendingOutput {
  return {
    path: metadataPathOf(npy, "parquet")!,
    write: async (p) => {
      // Loaded here only: Parquet is not part of the npm-free core.
      const { writeParquetMetadata } = await import("../data/parquet.ts");
      await writeParquetMetadata(p, { key: keys, ...sampleTextColumns(keys, text) });
    },
  };
}

/** The files of `out` (its part manifests, img_emb/ and metadata/) that no part of this plan writes. */
async function otherOutputs(out: string, mine: Set<string>): Promise<string[]> {
  const others: string[] = [];
  const scan = async (dir: string, keep: (name: string) => boolean) => {
    try {
      for await (const e of Deno.readDir(dir)) {
        const p = join(dir, e.name);
        if (e.name.startsWith(".") || /\.tmp-[0-9a-f]{12}$/.test(e.name) || mine.has(p)) continue;
        if (keep(e.name)) others.push(p);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  };
  await scan(out, (n) => /^part-\d+-of-\d+\.json$/.test(n));
  await scan(join(out, "img_emb"), () => true);
  await scan(join(out, "metadata"), () => true);
  return others.sort();
}

/**
 * Plans the parts of an embed and checks every output before any work: the output rule and
 * the manifest of each part (`checkOutputs`), and that `out` holds nothing of another embed
 * (refused unless `overwrite`). Creates `img_emb/` and `metadata/` (removed again, when still
 * empty, if a check fails).
 */
export async function planEmbedParts(
  out: string,
  samples: { total: number; files: string[]; starts: number[]; keyOf?: (o: number) => string },
  o: {
    perFile: number;
    params: { [key: string]: Json };
    overwrite: boolean;
    inputs: string[];
    onLog: (line: string) => void;
  },
): Promise<EmbedPlan> {
  const count = Math.ceil(samples.total / o.perFile);
  const parts: EmbedPart[] = [];
  for (let i = 0; i < count; i++) {
    const lo = i * o.perFile, hi = Math.min(samples.total, lo + o.perFile);
    // The files holding the part's samples; the key of its first and last sample.
    const files = samples.files.filter((_, f) =>
      samples.starts[f]! < hi && samples.starts[f + 1]! > lo
    );
    const key: ManifestKey = {
      kind: "embed-part",
      shard: { index: i, count },
      inputs: await describeInputs(files),
      params: {
        ...o.params,
        samples: samples.total,
        ...(samples.keyOf ? { keys: [samples.keyOf(lo), samples.keyOf(hi - 1)] } : {}),
      },
    };
    const npy = join(out, "img_emb", `img_emb_${i}.npy`);
    const manifest = join(out, `${partStem({ index: i, count })}.json`);
    parts.push({ index: i, lo, hi, npy, manifest, key, state: "fresh" });
  }
  const made: string[] = [];
  for (const sub of ["img_emb", "metadata"]) {
    const dir = join(out, sub);
    if (!(await Deno.stat(dir).then(() => true, () => false))) {
      await Deno.mkdir(dir, { recursive: true });
      made.push(dir);
    }
  }
  try {
    const mine = new Set(
      parts.flatMap((p) => [p.npy, metadataPathOf(p.npy, "parquet")!, p.manifest]),
    );
    const others = await otherOutputs(out, mine);
    if (others.length > 0 && !o.overwrite) {
      throw new UsageError(
        `Refusing to replace ${others[0]}: --out ${out} holds outputs of another embed${
          others.length > 1 ? ` (${others.length} files)` : ""
        }; use --overwrite to replace them, or choose another --out`,
      );
    }
    for (const p of parts) {
      p.state = await checkOutputs([p.npy, metadataPathOf(p.npy, "parquet")!], p.key, {
        overwrite: o.overwrite,
        onLog: o.onLog,
        inputs: o.inputs,
        manifest: p.manifest,
      });
    }
    return { out, parts, others, made };
  } catch (e) {
    await removeEmptyDirs(made);
    throw e;
  }
}

/** Removes the directories in `dirs` that are empty (those a failed run created), last first. */
export async function removeEmptyDirs(dirs: string[]): Promise<void> {
  for (const dir of [...dirs].reverse()) await Deno.remove(dir).catch(() => {});
}

/** Rows the committed part holds (its manifest's `info.rows`). */
export async function partRows(part: EmbedPart): Promise<number> {
  const rows = (await readManifest(part.manifest)).info?.rows;
  return typeof rows === "number" ? rows : 0;
}

/** Commits part `p`: its embeddings (`n` rows of `d`) and keys, then its manifest. */
export async function commitEmbedPart(
  p: EmbedPart,
  z: Float32Array,
  n: number,
  d: number,
  keys: string[],
  f16: boolean,
  text?: Map<string, SampleText>,
): Promise<void> {
  await commitOutputs(
    [
      {
        path: p.npy,
        write: (path) => writeNpy(path, z.subarray(0, n * d), [n, d], f16 ? { dtype: "f2" } : {}),
      },
      metadataOutput(p.npy, keys, text),
    ],
    p.key,
    { rows: n, samples: p.hi - p.lo },
    { manifest: p.manifest },
  );
  await pausePoint(`embed-part ${p.index}`); // test-only: kill tests stop here
}

/** Removes the files of another embed from `out` (with --overwrite, once every part is done). */
export async function removeOthers(plan: EmbedPlan, onLog: (line: string) => void): Promise<void> {
  for (const f of plan.others) {
    await Deno.remove(f, { recursive: true }).catch(() => {});
  }
  if (plan.others.length) {
    onLog(
      `--overwrite removed ${plan.others.length} file(s) of another embed from ${plan.out} (${
        plan.others.slice(0, 3).map((f) => basename(f)).join(", ")
      }${plan.others.length > 3 ? ", …" : ""})`,
    );
  }
}
