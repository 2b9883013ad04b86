// Issue 21, items 13, 14, 15 and 18: the one commit protocol of the jobs (src/jobs/commit.ts on
// src/fs/atomic.ts). A manifest is trusted only for the outputs its job must have; a second
// job never removes a live job's temporary files; a job killed between renaming its outputs
// and its manifest finishes on resubmission; a full disk names the file.
import assert from "node:assert/strict";
import {
  checkOutputs,
  commitOutputs,
  describeInputs,
  jobCheckpoint,
  type ManifestKey,
  readManifest,
} from "../src/jobs/mod.ts";
import { openFileAtomic, writeFileAtomic } from "../src/fs/atomic.ts";
import { withDir } from "./_tmp.ts";

const enc = new TextEncoder();
const writer = (text: string) => (p: string) => writeFileAtomic(p, enc.encode(text));

/** A part's key and outputs in a fresh directory with one input file. */
function withPart(
  fn: (dir: string, key: ManifestKey, outs: [string, string]) => Promise<void>,
): Promise<void> {
  return withDir(async (dir) => {
    await Deno.writeFile(`${dir}/in.npy`, enc.encode("input bytes"));
    const key: ManifestKey = {
      kind: "cluster-part",
      shard: { index: 0, count: 1 },
      inputs: await describeInputs([`${dir}/in.npy`]),
      params: { k: 5 },
    };
    await fn(dir, key, [`${dir}/part-0-of-1.npy`, `${dir}/part-0-of-1.counts.npy`]);
  });
}

const commit = (outs: string[], key: ManifestKey) =>
  commitOutputs(outs.map((path, i) => ({ path, write: writer(`output ${i}`) })), key, {});

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("item 13: a manifest is trusted only when it lists exactly the job's outputs", async () => {
  await withPart(async (dir, key, outs) => {
    await commit(outs, key);
    const mpath = `${dir}/part-0-of-1.json`;
    const m = await readManifest(mpath);
    // hand-edited: no outputs listed, and the part file deleted
    await Deno.writeTextFile(mpath, JSON.stringify({ ...m, outputs: [] }));
    await Deno.remove(outs[0]);
    await assert.rejects(() => checkOutputs(outs, key, { overwrite: false }), {
      name: "UsageError",
      message:
        `Refusing to trust ${mpath}: it lists no output, not this job's part-0-of-1.npy, part-0-of-1.counts.npy (use --overwrite to redo it)`,
    });
    // one output too few is not trusted either
    await Deno.writeTextFile(mpath, JSON.stringify({ ...m, outputs: m.outputs.slice(1) }));
    await assert.rejects(() => checkOutputs(outs, key, { overwrite: false }), /Refusing to trust/);
    assert.equal(await checkOutputs(outs, key, { overwrite: true }), "fresh");
  });
});

Deno.test("item 14: a second job leaves the temporary files of a live job alone, and the live job commits", async () => {
  await withPart(async (dir, key, outs) => {
    const stem = `${dir}/part-0-of-1`;
    const logs: string[] = [];
    const second = async () => {
      // what a resubmitted copy of the job does first: its sweeps of outputs and checkpoints
      assert.equal(
        await checkOutputs(outs, key, { overwrite: false, onLog: (l) => logs.push(l) }),
        "fresh",
      );
      await jobCheckpoint(stem, key, { onLog: (l) => logs.push(l) });
    };
    // The first job writes its k-means checkpoint (a live temporary file) …
    const checkpoint = await openFileAtomic(await jobCheckpoint(stem, key));
    await checkpoint.write(enc.encode("centroids so far"));
    await second();
    await checkpoint.commit();
    // … then commits: the second job sweeps while the outputs are staged, before their renames.
    await commitOutputs(
      [
        { path: outs[0], write: writer("centroids") },
        {
          path: outs[1],
          write: async (p) => {
            await writeFileAtomic(p, enc.encode("counts"));
            assert.equal(names(dir).filter((n) => n.includes(".tmp-")).length, 2);
            await second();
          },
        },
      ],
      key,
      {},
    );
    assert.deepEqual(logs, [], "nothing was taken for stale");
    assert.equal(await Deno.readTextFile(outs[0]), "centroids");
    assert.equal(await checkOutputs(outs, key, { overwrite: false }), "done");
  });
});

/** The state a kill leaves after the renames of `renamed` outputs: the rest are stale temps. */
async function killedDuringRenames(dir: string, outs: string[], renamed: number): Promise<void> {
  const stale = (p: string) => `${p}.tmp-0123456789ab`;
  for (const p of outs.slice(renamed)) await Deno.rename(p, stale(p));
  await Deno.rename(`${dir}/part-0-of-1.json`, stale(`${dir}/part-0-of-1.json`));
}

Deno.test("item 15: a job killed between renaming its outputs and its manifest finishes when resubmitted", async () => {
  await withPart(async (dir, key, outs) => {
    await commit(outs, key);
    const bytes = await Deno.readFile(`${dir}/part-0-of-1.json`);
    // every output renamed, the manifest not: the rerun finishes the commit, no work redone
    await killedDuringRenames(dir, outs, 2);
    const logs: string[] = [];
    assert.equal(
      await checkOutputs(outs, key, { overwrite: false, onLog: (l) => logs.push(l) }),
      "done",
    );
    assert.deepEqual(await Deno.readFile(`${dir}/part-0-of-1.json`), bytes);
    assert.match(logs.at(-1)!, /finished the interrupted commit of .*part-0-of-1\.json/);
    assert.deepEqual(
      names(dir),
      ["in.npy", ...outs.map((o) => o.slice(dir.length + 1))].concat(
        "part-0-of-1.json",
      ).sort(),
    );
    // one output renamed, not the other: the rerun redoes the part (no --overwrite needed)
    await killedDuringRenames(dir, outs, 1);
    assert.equal(await checkOutputs(outs, key, { overwrite: false }), "fresh");
    await commit(outs, key);
    assert.equal(await checkOutputs(outs, key, { overwrite: false }), "done");
    // another run's leftovers are still refused
    await killedDuringRenames(dir, outs, 2);
    const other = { ...key, params: { k: 6 } };
    await assert.rejects(
      () => checkOutputs(outs, other, { overwrite: false }),
      /Refusing to replace .*part-0-of-1\.npy, which has no manifest/,
    );
  });
});

Deno.test("item 18: a full disk names the file being written", async () => {
  // The error Deno raises for ENOSPC, from the device that is always full.
  let enospc: Error | undefined;
  try {
    using full = await Deno.open("/dev/full", { write: true });
    await full.write(new Uint8Array(8));
  } catch (e) {
    enospc = e as Error;
  }
  assert.ok(enospc, "/dev/full accepted a write");
  assert.match(enospc.message, /No space left on device/);
  await withDir(async (dir) => {
    const write = Deno.FsFile.prototype.write;
    Deno.FsFile.prototype.write = () => Promise.reject(enospc);
    try {
      for (
        const attempt of [
          () => writeFileAtomic(`${dir}/c.npy`, new Uint8Array(4)),
          async () => {
            const f = await openFileAtomic(`${dir}/a.npy`);
            await f.write(new Uint8Array(4));
          },
        ]
      ) {
        await assert.rejects(attempt, (e: Error) => {
          assert.match(
            e.message,
            new RegExp(`^Cannot write ${dir}/[ac]\\.npy: No space left on device`),
          );
          assert.equal((e as { code?: string }).code, "ENOSPC");
          return true;
        });
      }
    } finally {
      Deno.FsFile.prototype.write = write;
    }
    assert.deepEqual(names(dir), [], "no temporary file left");
  });
});
