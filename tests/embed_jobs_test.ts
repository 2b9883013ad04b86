// Issue 21, items 4, 9 and 12: `deno task embed` commits its parts like the shard jobs (a
// manifest per part, written last), so a killed embed is finished by a rerun and never read as
// complete; it refuses non-finite embeddings and inputs without samples before writing.
import assert from "node:assert/strict";
import { writeNpy } from "../src/data/npy.ts";
import { writeShard } from "../src/data/webdataset.ts";
import { errLines, runDeno } from "./_cli.ts";
import { writeUntrainedCheckpoint } from "./_checkpoint.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { withDir } from "./_tmp.ts";

const cli = (name: string) => new URL(`../src/cli/${name}.ts`, import.meta.url).pathname;
const HEAD = { kind: "head" as const, inputShape: [6], embedDim: 4, hidden: [8] };
const rows = (n: number) => new Float32Array(n * 6).map((_, i) => Math.sin(i * 1.3) + 0.1);

/** Every file under `dir` with its bytes. */
async function files(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out.set(p.slice(dir.length), Array.from(await Deno.readFile(p)).join(","));
    }
  };
  await walk(dir);
  return out;
}

Deno.test("item 4: a killed embed is never read as complete, and the rerun finishes it with the same bytes", async () => {
  await withDir(async (dir) => {
    await writeUntrainedCheckpoint(`${dir}/run`, HEAD);
    await writeNpy(`${dir}/x.npy`, rows(40), [40, 6]);
    const args = (out: string) => [
      cli("embed"),
      ...["--checkpoint", `${dir}/run`, "--data", `${dir}/x.npy`, "--out", out],
      ...["--rows-per-file", "15"],
    ];
    // Killed with kill -9 once part 0 of 3 is committed; an uninterrupted run beside it.
    const marker = `${dir}/paused`;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...args(`${dir}/emb`)],
      env: pauseEnv("embed-part 0", marker),
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const [full] = await Promise.all([
      runDeno(args(`${dir}/full`)),
      waitForPause(marker, child, stderr).then(() => child.kill("SIGKILL")),
    ]);
    assert.equal(full.code, 0, full.stderr);
    await child.status;
    await stderr;
    // The part that was committed is there, with its manifest; the others are not.
    const names = [...Deno.readDirSync(`${dir}/emb`)].map((e) => e.name).sort();
    assert.deepEqual(names, ["img_emb", "metadata", "part-0-of-3.json"]);

    // No reader takes the unfinished embed for a complete one.
    const c = await runDeno([
      cli("cluster"),
      ...["--input", `${dir}/emb`, "--k", "2", "--out", `${dir}/c.npy`],
    ]);
    assert.equal(c.code, 2, c.stderr);
    assert.match(
      c.stderr,
      /^mlcd cluster: Expected .*emb to hold a finished embed but found 1 of 3 parts \(.*part-1-of-3\.json is missing\): rerun the same mlcd embed/,
    );

    // The same command again finishes the missing parts: the bytes of an uninterrupted run.
    const r = await runDeno(args(`${dir}/emb`));
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /embed: 1 of 3 part\(s\) already done \(manifest matches\); embedding the other 2/,
    );
    const a = await files(`${dir}/emb`), b = await files(`${dir}/full`);
    const data = (m: Map<string, string>) => [...m].filter(([p]) => !p.endsWith(".json"));
    assert.deepEqual(data(a), data(b));
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  });
});

Deno.test("item 9: embed refuses non-finite inputs and embeddings before writing anything", async () => {
  await withDir(async (dir) => {
    await writeUntrainedCheckpoint(`${dir}/run`, HEAD);
    await writeUntrainedCheckpoint(`${dir}/nan`, HEAD, {
      edit: (t) => {
        const w = [...t].find(([name]) => name.startsWith("encoder."))!;
        (w[1].data as Float32Array)[0] = NaN; // its sha256 is computed after, so it verifies
      },
    });
    const x = rows(10);
    await writeNpy(`${dir}/x.npy`, x, [10, 6]);
    x[3 * 6 + 2] = NaN;
    await writeNpy(`${dir}/bad.npy`, x, [10, 6]);
    const embed = (ck: string, data: string, out: string) =>
      runDeno([cli("embed"), "--checkpoint", ck, "--data", data, "--out", out]);
    const [input, weights] = await Promise.all([
      embed(`${dir}/run`, `${dir}/bad.npy`, `${dir}/o1`),
      embed(`${dir}/nan`, `${dir}/x.npy`, `${dir}/o2`),
    ]);
    for (
      const [r, re] of [
        [
          input,
          /^mlcd embed: Expected finite values in .*bad\.npy but found NaN at row 3, column 2$/,
        ],
        [
          weights,
          /^mlcd embed: Expected finite embeddings but .*nan's encoder gave NaN for sample 0 \(column \d\): its weights are not finite/,
        ],
      ] as const
    ) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(errLines(r.stderr).at(-1)!, re, r.stderr);
    }
    for (const out of ["o1", "o2"]) {
      assert.ok(!(await Deno.stat(`${dir}/${out}`).then(() => true, () => false)), out);
    }
  });
});

Deno.test("item 12: embed on inputs without a readable sample is an error, and writes nothing", async () => {
  await withDir(async (dir) => {
    await writeUntrainedCheckpoint(`${dir}/run`, {
      kind: "cnn",
      inputShape: [8, 8, 1],
      embedDim: 4,
      channels: [2],
    });
    await Deno.writeFile(`${dir}/empty.tar`, new Uint8Array());
    await Deno.writeTextFile(`${dir}/text.tar`, "not a tar file at all, just some text\n");
    const json = new TextEncoder().encode('{"caption": "no image"}');
    await writeShard(`${dir}/json.tar`, [{ key: "k0", files: new Map([["json", json]]) }]);
    await Deno.mkdir(`${dir}/ed`);
    await writeNpy(`${dir}/ed/a.npy`, rows(2), [2, 6]);
    const r = await runDeno([
      cli("embed"),
      ...["--checkpoint", `${dir}/run`, "--out", `${dir}/ed`],
      ...["--data", `${dir}/empty.tar`, "--data", `${dir}/text.tar`, "--data", `${dir}/json.tar`],
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      errLines(r.stderr).at(-1)!,
      /^mlcd embed: Expected samples to embed in .*empty\.tar, .*text\.tar, .*json\.tar but found none \(0 readable images\)$/,
    );
    // no empty img_emb/ or metadata/ hides ed/a.npy from later commands
    assert.deepEqual([...Deno.readDirSync(`${dir}/ed`)].map((e) => e.name), ["a.npy"]);
  });
});
