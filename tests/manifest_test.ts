import assert from "node:assert/strict";
import {
  checkOutputs,
  commitOutputs,
  currentParams,
  describeInputs,
  type Manifest,
  manifestDifference,
  type ManifestKey,
  manifestPath,
  readManifest,
  sha256File,
} from "../src/jobs/mod.ts";
import { TOOLKIT_VERSION } from "../src/version.ts";
import { withDir } from "./_tmp.ts";
import { openFileAtomic, writeFileAtomic } from "../src/fs/atomic.ts";

const enc = new TextEncoder();

/** Runs `fn` in a fresh directory holding one input file, with a part's manifest key for it. */
function withSetup(fn: (dir: string, key: ManifestKey) => Promise<void>): Promise<void> {
  return withDir(async (dir) => {
    await Deno.writeFile(`${dir}/in.npy`, enc.encode("input bytes"));
    const key: ManifestKey = {
      kind: "cluster-part",
      shard: { index: 1, count: 4 },
      inputs: await describeInputs([`${dir}/in.npy`]),
      params: { k: 5, seed: 1 },
    };
    await fn(dir, key);
  });
}

const writer = (text: string) => (p: string) => writeFileAtomic(p, enc.encode(text));

Deno.test("manifestPath() replaces the data extension with .json", () => {
  assert.equal(manifestPath("parts/part-0-of-4.npy"), "parts/part-0-of-4.json");
  assert.equal(manifestPath("labels/part-2-of-3.arrow"), "labels/part-2-of-3.json");
});

Deno.test("sha256File() matches WebCrypto over a file larger than one read", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/big.bin`;
    const bytes = new Uint8Array((4 << 20) + 17).map((_, i) => (i * 31) & 255);
    await Deno.writeFile(path, bytes);
    const want = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.equal(await sha256File(path), want);
  });
});

Deno.test("commitOutputs() writes outputs and a manifest that checkOutputs() then accepts", async () => {
  await withSetup(async (dir, key) => {
    const outs = [`${dir}/part-1-of-4.npy`, `${dir}/part-1-of-4.counts.npy`];
    assert.equal(await checkOutputs(outs, key, { overwrite: false }), "fresh");
    const m = await commitOutputs(
      [{ path: outs[0]!, write: writer("centroids") }, {
        path: outs[1]!,
        write: writer("counts"),
      }],
      key,
      { rows: 10 },
    );
    assert.equal(m.toolkit, TOOLKIT_VERSION);
    assert.deepEqual(m.outputs.map((o) => [o.name, o.size]), [
      ["part-1-of-4.npy", 9],
      ["part-1-of-4.counts.npy", 6],
    ]);
    assert.equal(m.outputs[0]!.sha256, await sha256File(outs[0]!));
    const stored = await readManifest(`${dir}/part-1-of-4.json`);
    assert.deepEqual(stored.inputs, key.inputs);
    assert.equal(stored.inputs[0]!.path.startsWith("/"), true);
    assert.equal(stored.inputs[0]!.size, 11);
    assert.equal(await checkOutputs(outs, key, { overwrite: false }), "done");
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "in.npy",
      "part-1-of-4.counts.npy",
      "part-1-of-4.json",
      "part-1-of-4.npy",
    ]);
  });
});

Deno.test("checkOutputs() refuses another run's outputs unless overwrite, naming the difference", async () => {
  await withSetup(async (dir, key) => {
    const out = `${dir}/c.npy`;
    await commitOutputs([{ path: out, write: writer("x") }], key, {});
    const other = { ...key, params: { k: 6, seed: 1 } };
    await assert.rejects(() => checkOutputs([out], other, { overwrite: false }), {
      name: "UsageError",
      message:
        `Refusing to replace the outputs of another run (${dir}/c.json: parameter k 5 ≠ 6); use --overwrite to replace them`,
    });
    assert.equal(await checkOutputs([out], other, { overwrite: true }), "fresh");
    // A changed input (size) is a difference too.
    await Deno.writeFile(`${dir}/in.npy`, enc.encode("input bytes, more"));
    const changed = { ...key, inputs: await describeInputs([`${dir}/in.npy`]) };
    await assert.rejects(() => checkOutputs([out], changed, { overwrite: false }), {
      name: "UsageError",
      message: new RegExp(`in\\.npy changed size \\(11 → 17 bytes\\)`),
    });
    // An output edited after its manifest was written is not "done".
    await Deno.writeFile(out, enc.encode("y"));
    await assert.rejects(() => checkOutputs([out], key, { overwrite: false }), {
      name: "UsageError",
      message:
        `Refusing to replace the outputs of ${dir}/c.json: ${out} does not match its sha256 (use --overwrite to redo it)`,
    });
    // An output without a manifest is refused too.
    await Deno.remove(`${dir}/c.json`);
    await assert.rejects(() => checkOutputs([out], key, { overwrite: false }), {
      name: "UsageError",
      message:
        `Refusing to replace ${out}, which has no manifest ${dir}/c.json; use --overwrite to replace it`,
    });
    assert.equal(await checkOutputs([out], key, { overwrite: true }), "fresh");
  });
});

Deno.test("checkOutputs() removes stale temporary files and checks the output directory", async () => {
  await withSetup(async (dir, key) => {
    await Deno.writeFile(`${dir}/c.npy.tmp-0a1b2c3d4e5f`, enc.encode("partial"));
    await Deno.writeFile(`${dir}/c.json.tmp-0a1b2c3d4e5f`, enc.encode("{"));
    const logs: string[] = [];
    assert.equal(
      await checkOutputs([`${dir}/c.npy`], key, { overwrite: false, onLog: (l) => logs.push(l) }),
      "fresh",
    );
    assert.equal(logs.length, 2);
    assert.match(logs[0]!, /removed stale temporary file .*c\.npy\.tmp-0a1b2c/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["in.npy"]);
    await assert.rejects(() => checkOutputs([`${dir}/nope/c.npy`], key, { overwrite: false }), {
      name: "UsageError",
      message: `Cannot write --out ${dir}/nope/c.npy: the directory ${dir}/nope does not exist`,
    });
    await assert.rejects(() => checkOutputs([`${dir}/in.npy/c.npy`], key, { overwrite: false }), {
      name: "UsageError",
      message: `Cannot write --out ${dir}/in.npy/c.npy: ${dir}/in.npy is a file, not a directory`,
    });
  });
});

Deno.test("checkOutputs() leaves a temporary file that a live writer holds", async () => {
  await withSetup(async (dir, key) => {
    const live = await openFileAtomic(`${dir}/c.npy`);
    await live.write(enc.encode("in progress"));
    const logs: string[] = [];
    await checkOutputs([`${dir}/c.npy`], key, { overwrite: false, onLog: (l) => logs.push(l) });
    assert.deepEqual(logs, []);
    assert.equal([...Deno.readDirSync(dir)].filter((e) => e.name.includes(".tmp-")).length, 1);
    await live.abort();
  });
});

Deno.test("commitOutputs() hashes each output as it is written, through one temporary file", async () => {
  await withSetup(async (dir, key) => {
    const out = `${dir}/c.npy`;
    const bytes = new Uint8Array((1 << 20) + 3).map((_, i) => (i * 7) & 255);
    const seen: string[] = [];
    const m = await commitOutputs(
      [{
        path: out,
        write: (p) =>
          writeFileAtomic(p, async function* () {
            // Only the output's own temporary file exists while it is written.
            seen.push(
              ...[...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "in.npy"),
            );
            yield bytes.subarray(0, 5);
            yield bytes.subarray(5);
          }),
      }],
      key,
      {},
    );
    assert.equal(seen.length, 1);
    assert.match(seen[0]!, /^c\.npy\.tmp-[0-9a-f]{12}$/);
    const want = Array.from(
      new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
    assert.deepEqual(m.outputs, [{ name: "c.npy", size: bytes.length, sha256: want }]);
    assert.equal(await sha256File(out), want);
  });
});

Deno.test("commitOutputs() refuses a writer that does not go through the atomic writer", async () => {
  await withSetup(async (dir, key) => {
    await assert.rejects(
      () =>
        commitOutputs(
          [{ path: `${dir}/a.npy`, write: writer("a") }, {
            path: `${dir}/b.npy`,
            write: (p) => Deno.writeFile(p, enc.encode("b")),
          }],
          key,
          {},
        ),
      { message: new RegExp(`writer of ${dir}/b\\.npy .* but it wrote nothing`) },
    );
    // a.npy was never renamed into place, and no manifest appeared.
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      ["b.npy", "in.npy"],
    );
  });
});

Deno.test("commitOutputs() leaves nothing behind when a writer fails", async () => {
  await withSetup(async (dir, key) => {
    await assert.rejects(
      () =>
        commitOutputs(
          [{ path: `${dir}/a.npy`, write: writer("a") }, {
            path: `${dir}/b.npy`,
            write: () => Promise.reject(new RangeError("boom")),
          }],
          key,
          {},
        ),
      { name: "RangeError", message: "boom" },
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["in.npy"]);
  });
});

Deno.test("manifestDifference() reads an old manifest's spherical: true|false as metric cosine|l2", () => {
  const want: ManifestKey = {
    kind: "cluster-part",
    shard: null,
    inputs: [],
    params: { k: 4, metric: "cosine" },
  };
  const old = (spherical: boolean): Manifest => ({
    format: "mlcd-manifest",
    kind: "cluster-part",
    toolkit: TOOLKIT_VERSION,
    shard: null,
    inputs: [],
    params: { k: 4, spherical },
    outputs: [],
    info: {},
  });
  assert.equal(manifestDifference(old(true), want), undefined);
  assert.equal(
    manifestDifference(old(false), want),
    'parameter metric "l2" ≠ "cosine"',
  );
  assert.deepEqual(currentParams({ k: 1, spherical: false }), { k: 1, metric: "l2" });
  assert.deepEqual(currentParams({ k: 1, metric: "l2" }), { k: 1, metric: "l2" });
});
