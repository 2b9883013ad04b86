/**
 * Where a job keeps its k-means checkpoint: beside its outputs, named by a hash of its manifest
 * key, so that only the same run resumes from it.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { removeStaleTemps } from "../fs/atomic.ts";
import type { ManifestKey } from "./manifest.ts";

const CHECKPOINT = /\.[0-9a-f]{12}\.ckpt$/;

/**
 * The k-means checkpoint of a job: `<stem>.<hash of the manifest key>.ckpt`. Checkpoints of
 * other runs of the same output are removed, and so are their stale temporary files (those no
 * live writer holds; each named through `onLog`).
 *
 * @param stem The output's path without extension (`parts/part-0-of-4`).
 * @param key The job's manifest key.
 * @param options `onLog`: told `removed stale temporary file … (left by an interrupted run)`.
 * @returns The checkpoint path (the file may not exist yet).
 *
 * @example Usage
 * ```ts ignore
 * const checkpoint = await jobCheckpoint("parts/part-0-of-4", key);
 * await kmeans(gpu, part, { k, checkpoint: { path: checkpoint }, resume: true });
 * ```
 */
export async function jobCheckpoint(
  stem: string,
  key: ManifestKey,
  options: { onLog?: (line: string) => void } = {},
): Promise<string> {
  const hash = createHash("sha256").update(JSON.stringify(key)).digest("hex").slice(0, 12);
  const path = `${stem}.${hash}.ckpt`;
  const dir = dirname(stem), prefix = basename(stem) + ".";
  const ours = (name: string) => name.startsWith(prefix) && CHECKPOINT.test(name);
  for (const stale of await removeStaleTemps(dir, ours)) {
    options.onLog?.(
      `removed stale temporary file ${join(dir, basename(stale))} (left by an interrupted run)`,
    );
  }
  for (const e of Deno.readDirSync(dir)) {
    const file = join(dir, e.name);
    if (e.isFile && ours(e.name) && file !== path) await Deno.remove(file).catch(() => {});
  }
  return path;
}
