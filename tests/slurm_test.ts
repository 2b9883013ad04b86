// The hierarchical clustering and labelling pipeline, run for real through Slurm:
// examples/slurm/submit.sh chains the part array job, the merge, two refinement passes (an
// array job of refinement parts and a reduce each) and the assign array job with
// --dependency=afterok on a one-node cluster that this test starts (scripts/slurm/start.sh) and
// stops by PID. One part task is killed with SIGKILL mid-run; the resubmitted pipeline must
// skip the finished parts, redo the killed one and end with exactly the outputs of the same
// steps run in one process (`--hierarchical N --refine 2`). In CI (CI=true) a missing Slurm fails the test instead of skipping it
// (tests/_peer.ts).
import assert from "node:assert/strict";
import type { Matrix } from "../src/matrix/matrix.ts";
import { readArrowLabels } from "../src/data/arrow.ts";
import { readParquetLabels } from "../src/data/parquet.ts";
import { Rng } from "../src/random/rng.ts";
import { runDeno } from "./_cli.ts";
import { commandPeer, type Peer, peerTest } from "./_peer.ts";
import { pauseEnv, waitForPause } from "./_pause.ts";
import { writeShards } from "./_shards.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CLUSTER = `${ROOT}/src/cli/cluster.ts`;
const ASSIGN = `${ROOT}/src/cli/assign.ts`;

const SLURM_BINS = commandPeer("Slurm (apt-get install -y slurm-wlm munge)", [
  "sbatch",
  "squeue",
  "scancel",
  "scontrol",
  "sinfo",
  "slurmctld",
  "slurmd",
  "munged",
]);
const SLURM: Peer = SLURM_BINS.missing === null && Deno.uid() !== 0
  ? { ...SLURM_BINS, missing: "starting a one-node Slurm cluster needs root" }
  : SLURM_BINS;

interface Sh {
  code: number;
  out: string;
  err: string;
}

async function sh(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Sh> {
  const o = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until none of the jobs is pending or running (at most `seconds`). */
async function waitJobs(ids: string[], env: Record<string, string>, seconds = 600) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const q = await sh("squeue", ["-h", "-o", "%i %T %r", "-j", ids.join(",")], env);
    const live = q.out.trim().split("\n").filter((l) => l && !/DependencyNeverSatisfied/.test(l));
    if (live.length === 0) return;
    await sleep(500);
  }
  throw new Error(`Slurm jobs ${ids.join(",")} still running after ${seconds} s`);
}

/** The JobState of every task of a job (array tasks included). */
async function jobStates(id: string, env: Record<string, string>): Promise<string[]> {
  const r = await sh("scontrol", ["show", "job", "-o", id], env);
  return [...r.out.matchAll(/JobState=(\S+)/g)].map((m) => m[1]!);
}

/** `rows` clustered synthetic embeddings of `d` values around `centers` random centers. */
function clustered(rows: number, d: number, centers: number): Matrix {
  const rng = new Rng(7);
  const mu = Array.from(
    { length: centers },
    () => Float64Array.from({ length: d }, () => rng.next() * 2 - 1),
  );
  const data = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const c = mu[rng.int(centers)]!;
    for (let j = 0; j < d; j++) data[r * d + j] = c[j]! + 0.35 * (rng.next() - 0.5);
  }
  return { data, rows, cols: d };
}

peerTest({
  name:
    "slurm: parts → merge → 2 × (refine → reduce) → assign through sbatch --dependency=afterok, restartable after kill -9",
  needs: [SLURM],
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withDir(async (tmp) => {
      const slurmDir = `${tmp}/slurm`;
      // Deterministic kernel choice in every process (no timing races between concurrent tasks).
      const env: Record<string, string> = {
        MLCD_AUTOTUNE: "0",
        MLCD_DENO: Deno.execPath(),
        PATH: `${Deno.execPath().replace(/\/[^/]+$/, "")}:${Deno.env.get("PATH") ?? ""}`,
      };
      let started = false;
      try {
        // Reuse a running cluster (SLURM_CONF set and answering), else start our own.
        const existing = Deno.env.get("SLURM_CONF");
        if (existing && (await sh("sinfo", ["-h"])).code === 0) {
          env.SLURM_CONF = existing;
        } else {
          const s = await sh("bash", [`${ROOT}/scripts/slurm/start.sh`, slurmDir]);
          started = true;
          assert.equal(s.code, 0, `Slurm did not start: ${s.err}`);
          const m = s.out.match(/SLURM_CONF=(\S+)/);
          assert.ok(m, s.out);
          env.SLURM_CONF = m[1]!;
        }
        const shards = `${tmp}/shards`;
        const sizes = Array.from({ length: 8 }, (_, f) => 140 + 13 * f); // uneven shards
        const n = sizes.reduce((a, b) => a + b, 0);
        await writeShards(shards, clustered(n, 16, 12), sizes);
        const work = `${tmp}/work`;
        const K = 24, N = 8, niter = 200, R = 2;
        const submitArgs = [
          `${ROOT}/examples/slurm/submit.sh`,
          "--input",
          shards,
          "--work",
          work,
          "--parts",
          String(N),
          "--k1",
          String(K),
          "--k",
          String(K),
          "--l",
          "8",
          "--niter",
          String(niter),
          "--refine",
          String(R),
          "--gres",
          "none",
        ];
        const ids = (out: string): Record<string, string> =>
          Object.fromEntries(
            [...out.matchAll(/^(parts|merge|refine-\d+|reduce-\d+|assign) (\S+)$/gm)].map((
              m,
            ) => [m[1], m[2]]),
          );
        const later = (j: Record<string, string>) =>
          Object.entries(j).filter(([name]) => name !== "parts").map(([, id]) => id);

        // First submission: part 0 pauses right after its first k-means checkpoint
        // (src/testing/pause_point.ts; sbatch --export=ALL hands the variables to every task,
        // the prefix picks part 0), and is killed there with SIGKILL.
        const marker = `${tmp}/paused`;
        const pause = pauseEnv(`kmeans-checkpoint ${work}/parts/part-0-of-${N}.`, marker);
        const first = await sh("bash", submitArgs, { ...env, ...pause });
        assert.equal(first.code, 0, first.err);
        const j1 = ids(first.out);
        assert.deepEqual(
          Object.keys(j1),
          ["parts", "merge", "refine-1", "reduce-1", "refine-2", "reduce-2", "assign"],
          first.out,
        );
        const log0 = `${work}/logs/parts-0.log`;
        await waitForPause(marker, undefined, undefined, 300_000).catch(async (e) => {
          throw new Error(
            `${e.message}; part 0 logged: ${await Deno.readTextFile(log0).catch(() => "")}`,
          );
        });
        const k = await sh("scancel", ["--full", "--signal=KILL", `${j1.parts}_0`], env);
        assert.equal(k.code, 0, k.err);
        await waitJobs([j1.parts!], env);
        const states1 = await jobStates(j1.parts!, env);
        assert.equal(states1.filter((s) => s === "COMPLETED").length, N - 1, states1.join(" "));
        const partFiles = async () => {
          const names: string[] = [];
          for await (const e of Deno.readDir(`${work}/parts`)) names.push(e.name);
          return names.sort();
        };
        const after = await partFiles();
        // The killed part published nothing but its k-means checkpoint, written whole before the
        // pause (`part-0-of-8.<hash>.ckpt`, what the rerun resumes from).
        const part0 = after.filter((f) => f.startsWith("part-0-of-8"));
        assert.equal(part0.length, 1, `killed part left ${part0}`);
        assert.match(part0[0]!, /^part-0-of-8\.[0-9a-f]{12}\.ckpt$/);
        assert.ok(
          !after.some((f) => f.includes(".tmp") && !f.startsWith("part-0-of-8")),
          `partial files left: ${after}`,
        );
        // The later jobs wait forever on a failed afterok dependency: cancel, then resubmit.
        await sh("scancel", later(j1), env);

        const second = await sh("bash", submitArgs, env);
        assert.equal(second.code, 0, second.err);
        const j2 = ids(second.out);
        await waitJobs(Object.values(j2), env);
        for (const id of Object.values(j2)) {
          const st = await jobStates(id, env);
          assert.ok(st.length > 0 && st.every((s) => s === "COMPLETED"), `${id}: ${st.join(" ")}`);
        }
        for (let i = 1; i < N; i++) {
          const log = await Deno.readTextFile(`${work}/logs/parts-${i}.log`);
          assert.match(log, /already done/, `part ${i} was not skipped: ${log}`);
        }
        const rerun0 = await Deno.readTextFile(log0);
        assert.match(rerun0, /Resuming from .*part-0-of-8\.[0-9a-f]{12}\.ckpt/, rerun0);
        const final = await partFiles();
        assert.ok(!final.some((f) => f.includes(".tmp") || f.endsWith(".ckpt")), `left: ${final}`);

        for (let r = 1; r <= R; r++) {
          const log = await Deno.readTextFile(`${work}/logs/reduce-${r}.log`);
          assert.match(
            log,
            new RegExp(`reduce: objective over all ${n} rows of .*centers-${r - 1}\\.npy`),
            log,
          );
        }

        // The same steps in one process: the merged centers, then after 2 refinement passes.
        const ref = `${tmp}/ref`;
        await Deno.mkdir(ref);
        const hier = (refine: number, out: string) =>
          runDeno([
            CLUSTER,
            "--input",
            shards,
            "--k",
            String(K),
            "--hierarchical",
            String(N),
            "--k1",
            String(K),
            "--niter",
            String(niter),
            "--refine",
            String(refine),
            "--out",
            out,
            "--json",
          ], { env });
        const merged = await hier(0, `${ref}/merged.npy`);
        assert.equal(merged.code, 0, merged.stderr);
        assert.deepEqual(
          await Deno.readFile(`${work}/centers-0.npy`),
          await Deno.readFile(`${ref}/merged.npy`),
          "Slurm merged centers differ from --hierarchical",
        );
        const refined = await hier(R, `${ref}/centers.npy`);
        assert.equal(refined.code, 0, refined.stderr);
        assert.deepEqual(
          await Deno.readFile(`${work}/centers.npy`),
          await Deno.readFile(`${ref}/centers.npy`),
          "Slurm refined centers differ from --hierarchical --refine 2",
        );
        const summary = JSON.parse(refined.stdout);
        const reduced = JSON.parse(await Deno.readTextFile(`${work}/centers.json`));
        assert.equal(reduced.info.objective, summary.refineObjectives[R - 1]);
        const one = await runDeno([
          ASSIGN,
          "--input",
          shards,
          "--centers",
          `${ref}/centers.npy`,
          "--l",
          "8",
          "--out",
          `${ref}/labels.arrow`,
        ], { env });
        assert.equal(one.code, 0, one.stderr);
        const all = await readArrowLabels(`${ref}/labels.arrow`);
        assert.equal(all.rows, n);
        const labels = new Uint32Array(n * 8);
        let at = 0;
        for (let i = 0; i < N; i++) {
          // Parquet, assign's default format (the shards have no keys: `id`, the row index).
          const p = await readParquetLabels(`${work}/labels/part-${i}-of-${N}.parquet`);
          labels.set(p.indices, at * 8);
          assert.ok(p.ids, `part ${i} has no id column`);
          for (let r = 0; r < p.rows; r++) assert.equal(Number(p.ids[r]), at + r);
          at += p.rows;
        }
        assert.equal(at, n);
        assert.deepEqual(labels, all.indices, "concatenated part labels differ from one assign");

        // The objective the one-process run reports is over the rows: the labels' top-1 scores.
        // Quality: the refined hierarchical objective (each row's best cosine) within 1 % of flat.
        let hierObjective = 0;
        for (let r = 0; r < n; r++) hierObjective += all.scores[r * 8]!;
        assert.ok(Math.abs(hierObjective - summary.objective) < 1e-5 * n, `${summary.objective}`);
        const flat = await runDeno([
          CLUSTER,
          "--input",
          shards,
          "--k",
          String(K),
          "--niter",
          String(niter),
          "--json",
        ], { env });
        assert.equal(flat.code, 0, flat.stderr);
        const flatObjective = JSON.parse(flat.stdout).objective as number;
        assert.ok(
          hierObjective >= 0.99 * flatObjective,
          `hierarchical objective ${hierObjective} is not within 1 % of flat ${flatObjective}`,
        );
      } finally {
        if (started) await sh("bash", [`${ROOT}/scripts/slurm/stop.sh`, slurmDir]);
      }
    }, "mlcd_slurm_test_"),
});
