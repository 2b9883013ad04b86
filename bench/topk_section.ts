// Bench section: top-8 over the centers against faiss IndexFlatIP and hnswlib.
import type { Gpu } from "../src/gpu/gpu.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { readNpyArray, writeNpy } from "../src/data/npy.ts";
import { addRoofline, details, emit, fail, log, skip, tunings } from "./report.ts";
import type { Shapes } from "./shapes.ts";
import { clustered, sliceRows } from "./synthetic.ts";
import { INSTALL_FAISS, type Python, runPython, TOPK_PEERS_PY } from "./python.ts";
import { findTorch, torchTopk } from "./torch_peer.ts";
// topk.ts, not mod.ts: mod.ts reaches apache-arrow (src/labels), and `deno task gpu-check` runs
// this section on a machine without npm packages.
export type TopkModule = typeof import("../src/topk/topk.ts");
export type AnnModule = typeof import("../src/ann/mod.ts");
export function recall(found: Uint32Array, truth: Uint32Array, nq: number, k: number): number {
  let hit = 0;
  for (let q = 0; q < nq; q++) {
    const want = new Set(truth.subarray(q * k, (q + 1) * k));
    for (let j = 0; j < k; j++) if (want.has(found[q * k + j]!)) hit++;
  }
  return hit / (nq * k);
}

export async function sectionTopk(
  gpu: Gpu,
  shapes: Shapes,
  quick: boolean,
  py: Python | null,
  tmp: string,
  peak: number | null,
  timeoutS: number,
): Promise<void> {
  const S = shapes.topk;
  const section = `top-${S.k}`;
  const shape = `${S.queries} q × ${S.keys} centers, d=${S.d}`;
  // Centers and queries drawn around the same directions, like embeddings and their
  // cluster centers.
  const all = clustered(S.keys + S.queries, S.d, Math.max(1, Math.floor(S.keys / 100)), 11);
  const keys = sliceRows(all, 0, S.keys);
  const queries = sliceRows(all, S.keys, S.queries);
  const info: Record<string, unknown> = { shape: S };
  details.topk = info;
  let oursS: number | null = null;
  let truth: Uint32Array | null = null;
  let truthName = "";
  // faiss first: its exact result is the ground truth.
  if (py?.faiss) {
    try {
      log(`${section}: faiss IndexFlatIP`);
      await writeNpy(`${tmp}/keys.npy`, keys.data, [keys.rows, keys.cols]);
      await writeNpy(`${tmp}/queries.npy`, queries.data, [queries.rows, queries.cols]);
      // helper C's bench/peers/topk_peers.py: add, warm-up search, timed search
      const r = await runPython(py.exe, TOPK_PEERS_PY, [
        `${tmp}/queries.npy`,
        `${tmp}/keys.npy`,
        `${S.k}`,
        `${tmp}/faiss_idx.npy`,
      ], timeoutS);
      truth = (await readNpyArray(`${tmp}/faiss_idx.npy`)).data as Uint32Array;
      truthName = "faiss IndexFlatIP";
      emit({
        section,
        kind: "peer",
        tool: `faiss IndexFlatIP ${r.faiss_version}`,
        shape,
        seconds: r.faiss_seconds as number,
        quality: "recall 1 (exact, reference)",
        ratio: null,
        note: `CPU, ${r.threads} threads; search only (after add and a warm-up search)`,
      });
      info.faiss = r;
    } catch (e) {
      fail(section, "faiss IndexFlatIP", shape, e);
    }
  } else {
    skip(section, "faiss IndexFlatIP", shape, INSTALL_FAISS);
  }
  try {
    const tk: TopkModule = await import("../src/topk/topk.ts");
    log(`${section}: mlcd (ours)`);
    const tu = performance.now();
    const index = tk.uploadTopkKeys(gpu, keys, { metric: "ip" });
    await gpu.device.queue.onSubmittedWorkDone();
    const uploadS = (performance.now() - tu) / 1000;
    let r: Awaited<ReturnType<typeof index.search>>;
    try {
      // Compiles the pipelines; with variant "auto" the first search also times both
      // kernel designs on up to 256 of these queries (once per adapter, then cached).
      await index.search(sliceRows(queries, 0, Math.min(256, S.queries)), { k: S.k });
      const t0 = performance.now();
      r = await index.search(queries, { k: S.k });
      oursS = (performance.now() - t0) / 1000;
      const tn = index.tuning;
      tunings.push(
        `top-k kernel for d=${S.d}: **${index.variant}** (${tn?.source ?? "default"}${
          tn?.ms == null ? "" : `, ${tn.ms.toFixed(1)} ms on 256 queries`
        })`,
      );
    } finally {
      index.destroy();
    }
    if (!truth) truthName = "ours (exact)";
    const ref: Uint32Array = truth ?? r.indices;
    truth = ref;
    const rec = recall(r.indices, ref, S.queries, S.k);
    emit({
      section,
      kind: "ours",
      tool: "mlcd (ours)",
      shape,
      seconds: oursS,
      quality: `recall ${rec.toFixed(4)}`,
      ratio: null,
      note: `exact; search incl. query upload + readback (centers resident, upload ${
        (uploadS * 1000).toFixed(0)
      } ms); recall vs ${truthName}`,
    });
    info.ours = { seconds: oursS, recall: rec };
    if (peak) {
      addRoofline(
        `top-${S.k} (fused GEMM + select)`,
        shape,
        (2 * S.queries * S.keys * S.d) / 1e9,
        oursS * 1000,
        peak,
        "wall, incl. query upload + readback",
      );
    }
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
  }
  await torchPeer(S, keys, queries, truth, truthName, info, timeoutS);
  await hnswPeer(S, keys, queries, truth, truthName, info, quick);
}

/** PyTorch float32 matmul + torch.topk (CUDA when torch sees a GPU), when torch imports. */
export async function torchPeer(
  S: Shapes["topk"],
  keys: Matrix,
  queries: Matrix,
  truth: Uint32Array | null,
  truthName: string,
  info: Record<string, unknown>,
  timeoutS: number,
): Promise<void> {
  const section = `top-${S.k}`;
  const shape = `${S.queries} q × ${S.keys} centers, d=${S.d}`;
  const tool = "PyTorch matmul + topk";
  const py = await findTorch();
  if (!("exe" in py)) {
    skip(section, tool, shape, `torch: not available (${py.reason})`);
    return;
  }
  try {
    log(`${section}: PyTorch ${py.torch} on ${py.device} (bench/peers/torch_topk.py)`);
    const r = await torchTopk(py, queries, keys, S.k, timeoutS);
    const seconds = r.uploadSeconds + r.computeSeconds + r.downloadSeconds;
    const rec = truth ? recall(r.indices, truth, S.queries, S.k) : NaN;
    emit({
      section,
      kind: "peer",
      tool: `PyTorch ${r.torch} matmul + topk (${r.device})`,
      shape,
      seconds,
      quality: truth ? `recall ${rec.toFixed(4)}` : "recall —",
      ratio: null,
      note: `${r.name}; float32, TF32 off; upload + compute + download (compute alone ${
        (r.computeSeconds * 1000).toFixed(1)
      } ms, after a warm-up); recall vs ${truthName}`,
    });
    info.torch = { ...r, indices: undefined, seconds, recall: rec };
  } catch (e) {
    fail(section, tool, shape, e);
  }
}

export async function hnswPeer(
  S: Shapes["topk"],
  keys: Matrix,
  queries: Matrix,
  truth: Uint32Array | null,
  truthName: string,
  info: Record<string, unknown>,
  quick: boolean,
): Promise<void> {
  const section = `top-${S.k}`;
  const shape = `${S.queries} q × ${S.keys} centers, d=${S.d}`;
  let ann: AnnModule;
  try {
    ann = await import("../src/ann/mod.ts");
  } catch (e) {
    fail(section, "hnswlib", shape, e);
    return;
  }
  try {
    const efConstruction = quick ? 100 : 200;
    log(`${section}: hnswlib build (M 16, efConstruction ${efConstruction}) + search`);
    const index = await ann.buildHnswIndex(keys, { metric: "ip", efConstruction });
    const t1 = performance.now();
    const r = ann.annTopk(index, queries, { k: S.k });
    const seconds = (performance.now() - t1) / 1000;
    const rec = truth ? recall(r.indices, truth, S.queries, S.k) : NaN;
    emit({
      section,
      kind: "peer",
      tool: "hnswlib-node 3.0.0 (ANN)",
      shape,
      seconds,
      quality: truth ? `recall ${rec.toFixed(4)}` : "recall —",
      ratio: null,
      note:
        `search only, 1 thread, ef ${ann.DEFAULT_HNSW_EF}; build (M 16, efConstruction ${efConstruction}) ${
          index.buildSeconds.toFixed(1)
        } s; recall vs ${truthName}`,
    });
    info.hnswlib = { buildS: index.buildSeconds, searchS: seconds, recall: rec, efConstruction };
  } catch (e) {
    fail(section, "hnswlib", shape, e);
  }
}
