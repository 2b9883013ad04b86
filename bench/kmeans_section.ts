// Bench section: spherical k-means against faiss, scikit-learn and ml-kmeans.
import type { Gpu } from "../src/gpu/gpu.ts";
import type { Matrix } from "../src/matrix/matrix.ts";
import { addRoofline, details, emit, fail, flush, log, skip, tunings } from "./report.ts";
import type { Shapes } from "./shapes.ts";
import { clustered, sliceRows } from "./synthetic.ts";
import {
  INSTALL_FAISS,
  INSTALL_SKLEARN,
  KMEANS_PEERS_PY,
  type Python,
  runPython,
} from "./python.ts";
export type KMeansModule = typeof import("../src/kmeans/mod.ts");
// ---------------------------------------------------------------------------------------
// Sections

export function fmtShapeK(s: Shapes["kmeans"]): string {
  return `n=${s.n} d=${s.d} k=${s.k} ${s.niter} it`;
}

export async function sectionKmeans(
  gpu: Gpu,
  shapes: Shapes,
  py: Python | null,
  tmp: string,
  peak: number | null,
  timeoutS: number,
): Promise<void> {
  const S = shapes.kmeans;
  const shape = fmtShapeK(S);
  const section = "spherical k-means";
  log(`${section}: generating ${S.n}×${S.d} clustered rows`);
  const x = clustered(S.n, S.d, S.k, 7);
  let km: KMeansModule;
  try {
    km = await import("../src/kmeans/mod.ts");
  } catch (e) {
    fail(section, "mlcd (ours)", shape, e);
    return;
  }
  const info: Record<string, unknown> = { shape: S };
  details.kmeans = info;
  /** Objective of any centroids on all rows: sum of best cosines (same exact kernel). */
  const score = async (c: Matrix): Promise<number> => {
    const { scores } = await km.assignNearest(gpu, x, c, { metric: "cosine" });
    let s = 0;
    for (let i = 0; i < scores.length; i++) s += scores[i]!;
    return s;
  };
  flush();
  const tuneLogs: string[] = [];
  let ours: number | null = null;
  for (const f16 of [false, true]) {
    const tool = f16 ? "mlcd f16 storage" : "mlcd (ours)";
    try {
      log(`${section}: ${tool}`);
      const t0 = performance.now();
      const r = await km.kmeans(gpu, x, {
        k: S.k,
        niter: S.niter,
        metric: "cosine",
        init: "random",
        seed: 1234,
        f16,
        // "auto" (the default) times its candidate kernels once per adapter and caches
        // the winner; the log line lists every candidate's time.
        onLog: (m) => {
          if (m.startsWith("Autotuned")) tuneLogs.push(m);
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      const kern = r.kernel;
      tunings.push(
        `assignment kernel for d=${S.d}${f16 ? " (f16 storage)" : ""}: **${kern.variant}${
          kern.variant === "registers" ? `×${kern.rows} rows` : ""
        }** (${kern.source}${
          kern.ms === null ? "" : `, ${kern.ms.toFixed(1)} ms on the tuning problem`
        })` +
          (tuneLogs.length ? `. ${tuneLogs.pop()}` : ""),
      );
      info[f16 ? "kernelF16" : "kernel"] = kern;
      const obj = await score(r.centroids);
      const search = r.stats.map((s) => s.timeSearch);
      const perIter = search.reduce((a, b) => a + b, 0) / Math.max(1, search.length);
      if (!f16) ours = seconds;
      emit({
        section,
        kind: f16 ? "variant" : "ours",
        tool,
        shape,
        seconds,
        quality: `obj ${obj.toFixed(1)}`,
        ratio: f16 && ours ? ours / seconds : null,
        note: `${(perIter * 1000).toFixed(0)} ms/iteration (assign + update)` +
          (f16 ? "; ratio = f32 time / f16 time" : ""),
      });
      info[f16 ? "oursF16" : "ours"] = { seconds, objective: obj, perIterS: perIter };
      if (peak) {
        const gflop = (2 * S.n * S.k * S.d + 3 * S.n * S.d) / 1e9;
        addRoofline(
          f16 ? "kmeans iteration (f16 storage)" : "kmeans iteration",
          shape,
          gflop,
          perIter * 1000,
          peak,
          "timeSearch per iteration",
        );
      }
    } catch (e) {
      fail(section, tool, shape, e);
    }
  }
  // faiss and scikit-learn through helper B's bench/peers/kmeans_peers.py (one process
  // for both), on the same already-normalised rows as a raw float32 file.
  const want = [
    ["faiss", "faiss", py?.faiss, INSTALL_FAISS],
    ["sklearn", "scikit-learn KMeans", py?.sklearn, INSTALL_SKLEARN],
  ] as const;
  for (const [, tool, ok, install] of want) if (!py || !ok) skip(section, tool, shape, install);
  if (py && (py.faiss || py.sklearn)) {
    let out: Record<string, Record<string, unknown>> = {};
    const prefix = `${tmp}/kmeans`;
    try {
      log(`${section}: faiss and scikit-learn (bench/peers/kmeans_peers.py)`);
      await Deno.writeFile(
        `${tmp}/x.f32`,
        new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength),
      );
      out = await runPython(py.exe, KMEANS_PEERS_PY, [
        `${tmp}/x.f32`,
        `${S.n}`,
        `${S.d}`,
        `${S.k}`,
        `${S.niter}`,
        "1234",
        prefix,
      ], timeoutS) as Record<string, Record<string, unknown>>;
    } catch (e) {
      for (const [, tool, ok] of want) if (ok) fail(section, tool, shape, e);
    }
    for (const [key, tool, ok] of want) {
      const r = out[key];
      if (!ok || !r) continue;
      if (r.error) {
        fail(section, tool, shape, r.error);
        continue;
      }
      try {
        const data = new Float32Array((await Deno.readFile(`${prefix}.${key}.f32`)).buffer);
        const obj = await score({ data, rows: S.k, cols: S.d });
        const seconds = r.seconds as number;
        emit({
          section,
          kind: "peer",
          tool: `${tool} ${r.version}`,
          shape,
          seconds,
          quality: `obj ${obj.toFixed(1)}`,
          ratio: ours ? seconds / ours : null,
          note: key === "faiss"
            ? `CPU, ${r.threads} threads; ${(seconds / S.niter * 1000).toFixed(0)} ms/iteration`
            : `lloyd, k-means++ init, ${r.iterations} iterations`,
        });
        info[key] = { ...r, objective: obj };
      } catch (e) {
        fail(section, tool, shape, e);
      }
    }
  }
  await mlKmeansPeer(S, x, ours, score, info);
}

/**
 * ml-kmeans (pure JS, k-means++ init) is far too slow for the full shape, so it runs all
 * `niter` iterations on the first `mlN` rows; its k-means++ initialisation and every
 * iteration each cost ∝ n·k·d, so the full-shape time is that run's time × n / mlN.
 */
export async function mlKmeansPeer(
  S: Shapes["kmeans"],
  x: Matrix,
  ours: number | null,
  score: (c: Matrix) => Promise<number>,
  info: Record<string, unknown>,
): Promise<void> {
  const section = "spherical k-means";
  const shape = `${fmtShapeK(S)} (run on n=${S.mlN})`;
  let mod: Record<string, unknown>;
  try {
    mod = await import("../src/kmeans/ml_kmeans_peer.ts") as Record<string, unknown>;
  } catch (e) {
    fail(section, "ml-kmeans", shape, e);
    return;
  }
  const run = mod.mlKmeans as
    | ((
      x: Matrix,
      k: number,
      options: { maxIterations: number; seed: number },
    ) => Promise<Matrix> | Matrix)
    | undefined;
  if (typeof run !== "function") {
    skip(section, "ml-kmeans", shape, "src/kmeans/ml_kmeans_peer.ts has no mlKmeans export");
    return;
  }
  try {
    log(`${section}: ml-kmeans on ${S.mlN} rows, ${S.niter} iterations`);
    const sub = sliceRows(x, 0, S.mlN);
    const t0 = performance.now();
    const c = await run(sub, S.k, { maxIterations: S.niter, seed: 1234 });
    const measured = (performance.now() - t0) / 1000;
    const seconds = measured * (S.n / S.mlN);
    const obj = await score(c);
    emit({
      section,
      kind: "peer",
      tool: "ml-kmeans 7.0.1",
      shape,
      seconds,
      quality: `obj ${obj.toFixed(1)} (trained on ${S.mlN} rows)`,
      ratio: ours ? seconds / ours : null,
      note: `extrapolated: ${measured.toFixed(1)} s on ${S.mlN} rows × n/${S.mlN} ` +
        "(k-means++ init and iterations both ∝ n; pure JS, 1 thread)",
    });
    info.mlKmeans = {
      measuredS: measured,
      mlN: S.mlN,
      extrapolatedS: seconds,
      objective: obj,
    };
  } catch (e) {
    fail(section, "ml-kmeans", shape, e);
  }
}
