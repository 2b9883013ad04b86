import { writeFileAtomic } from "../fs/atomic.ts";
import type { Gpu } from "./gpu.ts";

// The version is part of every autotune cache key, so that a release with changed
// kernels re-tunes instead of trusting old timings.
import { TOOLKIT_VERSION } from "../version.ts";
import { detectProfile } from "./quirks.ts";

/** File name of the autotune cache inside the cache directory. */
export const AUTOTUNE_CACHE_FILE = "autotune.json";

/** A candidate configuration: a plain JSON object such as `{ rows: 16, wg: 64 }`. */
export type TuneConfig = Record<string, number | string | boolean>;

/** Options for {@linkcode autotune}. */
export interface AutotuneOptions {
  /**
   * Timed runs per candidate after one untimed warm-up run (which compiles the
   * pipeline); the fastest run counts. @default {3}
   */
  repeats?: number;
  /**
   * Directory holding `autotune.json`. @default {`$MLCD_CACHE_DIR`, else
   * `$XDG_CACHE_HOME/mlcd`, else `~/.cache/mlcd`}
   */
  cacheDir?: string;
  /**
   * Tune at all; when false the first candidate is returned untimed and the cache is
   * neither read nor written. @default {true unless the environment sets MLCD_AUTOTUNE=0}
   */
  enabled?: boolean | undefined;
  /** Ignore a cached choice and time the candidates again (the new result is cached). @default {false} */
  force?: boolean;
}

/** One candidate's timing in an {@linkcode AutotuneResult}. */
export interface CandidateTiming<C extends TuneConfig> {
  /** The candidate. */
  config: C;
  /** Fastest timed run in ms, or null when the candidate failed. */
  ms: number | null;
  /** The error message when the candidate threw. */
  error?: string;
}

/** Result of {@linkcode autotune}. */
export interface AutotuneResult<C extends TuneConfig> {
  /** The chosen candidate. */
  config: C;
  /** Its time in ms (from the cache when `source` is "cache"), or null when untimed. */
  ms: number | null;
  /**
   * Where the choice came from: timed now, read from the cache, or the first
   * candidate untimed ("default": tuning disabled or a single candidate).
   */
  source: "tuned" | "cache" | "default";
  /** Every candidate's timing (empty unless `source` is "tuned"). */
  timings: CandidateTiming<C>[];
  /** The cache key the choice is stored under. */
  key: string;
  /**
   * The cache file the choice was read from or written to; null when it lives in memory
   * only (tuning disabled, no cache directory, or writing the cache failed).
   */
  cachedIn: string | null;
}

interface CacheEntry {
  config: TuneConfig;
  ms: number;
  candidates: number;
  at: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

const warned = new Set<string>();
const memory = new Map<string, { entry: CacheEntry; file: string | null }>();

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

/**
 * The directory the autotune cache lives in: `$MLCD_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/mlcd`, else `$HOME/.cache/mlcd`; null when none can be found.
 *
 * @returns The directory path or null.
 *
 * @example Usage
 * ```ts
 * import { autotuneCacheDir } from "./autotune.ts";
 * console.log(autotuneCacheDir()); // e.g. "/home/me/.cache/mlcd"
 * ```
 */
export function autotuneCacheDir(): string | null {
  const explicit = env("MLCD_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/mlcd`;
  const home = env("HOME") ?? env("USERPROFILE");
  return home ? `${home}/.cache/mlcd` : null;
}

/**
 * The cache key of a kernel family on an adapter: adapter description, vendor and
 * architecture plus the toolkit version, then the family name.
 *
 * @param gpu The GPU context.
 * @param family Kernel family and any shape class, e.g. `"kmeans_assign/d=128"`.
 * @returns The key.
 *
 * @example Usage
 * ```ts ignore
 * autotuneKey(gpu, "kmeans_assign"); // "llvmpipe (LLVM 15.0.6, 256 bits)|65541||mlcd 0.1.0|kmeans_assign"
 * ```
 */
export function autotuneKey(gpu: Gpu, family: string): string {
  const { description, vendor, architecture } = gpu.info;
  // A forced profile (createGpu({ quirks })) tunes its own candidates under its own key.
  const forced = gpu.quirks &&
      gpu.quirks.profile !== detectProfile(gpu.info.description, gpu.info.isFallbackAdapter)
    ? `|quirks=${gpu.quirks.profile}`
    : "";
  return `${description}|${vendor}|${architecture}|mlcd ${TOOLKIT_VERSION}${forced}|${family}`;
}

async function readCache(path: string): Promise<CacheFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return { version: 1, entries: {} }; // missing or unreadable: nothing cached
  }
  try {
    const parsed = JSON.parse(text) as Partial<CacheFile>;
    if (
      typeof parsed !== "object" || parsed === null || parsed.version !== 1 ||
      typeof parsed.entries !== "object" || parsed.entries === null
    ) {
      throw new Error("unexpected structure");
    }
    return parsed as CacheFile;
  } catch (e) {
    if (!warned.has(path)) {
      warned.add(path);
      console.error(
        `mlcd: ignoring corrupt autotune cache ${path} (${
          (e as Error).message
        }); it will be rewritten`,
      );
    }
    return { version: 1, entries: {} };
  }
}

/**
 * Merges `entry` into the cache file and replaces it atomically ({@linkcode writeFileAtomic},
 * renamed at once even inside a batch); returns whether the file was written.
 */
async function writeCache(dir: string, key: string, entry: CacheEntry): Promise<boolean> {
  const path = `${dir}/${AUTOTUNE_CACHE_FILE}`;
  const cache = await readCache(path);
  cache.entries[key] = entry;
  try {
    await Deno.mkdir(dir, { recursive: true });
    const text = JSON.stringify(cache, null, 2) + "\n";
    await writeFileAtomic(path, new TextEncoder().encode(text), { immediate: true });
    return true;
  } catch (e) {
    if (!warned.has(`write:${path}`)) {
      warned.add(`write:${path}`);
      const reason = (e as Error).message.replace(`Cannot write ${path}: `, "");
      console.error(`mlcd: cannot write autotune cache ${path}: ${reason}`);
    }
    return false;
  }
}

function sameConfig(a: TuneConfig, b: TuneConfig): boolean {
  const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/**
 * Picks the fastest of several kernel configurations on this adapter and remembers the
 * choice. Each candidate runs once untimed (pipeline compilation), then `repeats` times
 * through `time`, which returns milliseconds (e.g. from `timeGpu`); the fastest run
 * counts. A candidate that throws is skipped. The winner is cached per adapter (see
 * {@linkcode autotuneKey}) in `autotune.json` in {@linkcode autotuneCacheDir}, so later
 * processes reuse it without timing; a cached choice that is no longer among the
 * candidates is tuned again. `MLCD_AUTOTUNE=0` disables tuning (the first candidate
 * is used), `MLCD_CACHE_DIR` moves the cache, and a corrupt cache file is ignored with
 * one warning on stderr.
 *
 * @param gpu The GPU context (its adapter names the cache entry).
 * @param family Kernel family and shape class, e.g. `"kmeans_assign/d=128"`.
 * @param candidates Configurations to try; the first is the default.
 * @param time Runs the kernel once with a configuration; resolves to milliseconds.
 * @param options See {@linkcode AutotuneOptions}.
 * @returns The chosen configuration and how it was chosen.
 * @throws {RangeError} When `candidates` is empty.
 * @throws {Error} When every candidate fails (the message lists their errors).
 *
 * @example Usage
 * ```ts ignore
 * const { config } = await autotune(gpu, "kmeans_assign/d=128",
 *   [{ rows: 16 }, { rows: 8 }],
 *   async (c) => (await timeGpu(gpu, (enc) => recordAssign(enc, c))).ms);
 * ```
 */
export async function autotune<C extends TuneConfig>(
  gpu: Gpu,
  family: string,
  candidates: readonly C[],
  time: (config: C) => Promise<number>,
  options: AutotuneOptions = {},
): Promise<AutotuneResult<C>> {
  if (candidates.length === 0) {
    throw new RangeError("Expected at least 1 autotune candidate but found 0");
  }
  const repeats = options.repeats ?? 3;
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new RangeError(`Expected repeats to be a positive integer but found ${repeats}`);
  }
  const key = autotuneKey(gpu, family);
  const enabled = options.enabled ?? env("MLCD_AUTOTUNE") !== "0";
  if (!enabled || candidates.length === 1) {
    return {
      config: candidates[0]!,
      ms: null,
      source: "default",
      timings: [],
      key,
      cachedIn: null,
    };
  }
  const dir = options.cacheDir ?? autotuneCacheDir();
  const memKey = `${dir}\n${key}`;
  const file = dir ? `${dir}/${AUTOTUNE_CACHE_FILE}` : null;
  if (!options.force) {
    const mem = memory.get(memKey);
    let hit = mem?.entry;
    let from = mem?.file ?? null;
    if (!hit && file) {
      hit = (await readCache(file)).entries[key];
      from = file;
    }
    const match = hit && candidates.find((c) => sameConfig(c, hit!.config));
    if (hit && match) {
      memory.set(memKey, { entry: hit, file: from });
      return { config: match, ms: hit.ms, source: "cache", timings: [], key, cachedIn: from };
    }
  }
  const timings: CandidateTiming<C>[] = [];
  for (const config of candidates) {
    try {
      await time(config);
      let best = Infinity;
      for (let r = 0; r < repeats; r++) {
        const ms = await time(config);
        if (!(ms >= 0) || !Number.isFinite(ms)) {
          throw new RangeError(`Expected a time in ms but found ${ms}`);
        }
        best = Math.min(best, ms);
      }
      timings.push({ config, ms: best });
    } catch (e) {
      timings.push({ config, ms: null, error: (e as Error)?.message ?? String(e) });
    }
  }
  let winner: CandidateTiming<C> | undefined;
  for (const t of timings) {
    if (t.ms !== null && (!winner || t.ms < winner.ms!)) winner = t;
  }
  if (!winner) {
    throw new Error(
      `Every autotune candidate for ${family} failed: ${
        timings.map((t) => `${JSON.stringify(t.config)}: ${t.error}`).join("; ")
      }`,
    );
  }
  const entry: CacheEntry = {
    config: winner.config,
    ms: winner.ms!,
    candidates: candidates.length,
    at: new Date().toISOString(),
  };
  const written = dir ? await writeCache(dir, key, entry) : false;
  const cachedIn = written ? file : null;
  memory.set(memKey, { entry, file: cachedIn });
  return { config: winner.config, ms: winner.ms, source: "tuned", timings, key, cachedIn };
}
