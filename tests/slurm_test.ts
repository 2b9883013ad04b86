// The hierarchical clustering and labelling pipeline, run for real through Slurm:
// examples/slurm/submit.sh chains the part array job, the merge and the assign array job with
// --dependency=afterok on a one-node cluster that this test starts (scripts/slurm/start.sh) and
// stops by PID. One part task is killed with SIGKILL mid-run; the resubmitted pipeline must
// skip the finished parts, redo the killed one and end with exactly the outputs of the same
// steps run in one process. In CI (CI=true) a missing Slurm fails the test instead of skipping it
// (tests/_peer.ts).
import assert from "node:assert/strict";
import { readNpy } from "../src/data/npy.ts";
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
    "slurm: parts → merge → assign through sbatch --dependency=afterok, restartable after kill -9",
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
        const K = 24, N = 8, niter = 200;
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
          "--gres",
          "none",
        ];
        const ids = (out: string) =>
          Object.fromEntries(
            [...out.matchAll(/^(parts|merge|assign) (\S+)$/gm)].map((m) => [m[1], m[2]]),
          );

        // First submission: part 0 pauses right after its first k-means checkpoint
        // (src/testing/pause_point.ts; sbatch --export=ALL hands the variables to every task,
        // the prefix picks part 0), and is killed there with SIGKILL.
        const marker = `${tmp}/paused`;
        const pause = pauseEnv(`kmeans-checkpoint ${work}/parts/part-0-of-${N}.`, marker);
        const first = await sh("bash", submitArgs, { ...env, ...pause });
        assert.equal(first.code, 0, first.err);
        const j1 = ids(first.out);
        assert.ok(j1.parts && j1.merge && j1.assign, first.out);
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
        // merge and assign wait forever on a failed afterok dependency: cancel, then resubmit.
        await sh("scancel", [j1.merge!, j1.assign!], env);

        const second = await sh("bash", submitArgs, env);
        assert.equal(second.code, 0, second.err);
        const j2 = ids(second.out);
        await waitJobs([j2.parts!, j2.merge!, j2.assign!], env);
        for (const id of [j2.parts!, j2.merge!, j2.assign!]) {
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

        // The same steps in one process.
        const ref = `${tmp}/ref`;
        await Deno.mkdir(ref);
        const hier = await runDeno([
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
          "--out",
          `${ref}/centers.npy`,
        ], { env });
        assert.equal(hier.code, 0, hier.stderr);
        const jobsCenters = await readNpy(`${work}/centers.npy`);
        const refCenters = await readNpy(`${ref}/centers.npy`);
        assert.deepEqual(jobsCenters, refCenters, "Slurm centers differ from --hierarchical");
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

        // Quality: the hierarchical objective (sum of each row's best cosine) within 1 % of flat.
        let hierObjective = 0;
        for (let r = 0; r < n; r++) hierObjective += all.scores[r * 8]!;
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
