// The public modules imported over HTTP, as a user outside the repository would: the
// repository is served on 127.0.0.1 (a free port).
//   - examples/cycle.ts runs unchanged against http://127.0.0.1:<port>/mod.ts and the
//     entry points it names;
//   - a 10-line script outside the repository that imports kmeans and assignLabels from
//     mod.ts, run with an empty DENO_DIR, then cached with its types, downloads no npm
//     package (the core needs none).
import assert from "node:assert/strict";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MODULE = Deno.env.get("MLCD_URL_TEST_MODULE") ?? "mod.ts";

/** Serves the repository on 127.0.0.1 while `fn` runs; `fn` gets the base URL. */
async function withServedRepo(fn: (base: string) => Promise<void>): Promise<void> {
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${ROOT}`,
      `${ROOT}scripts/serve.ts`,
      "--root",
      ROOT,
      "--max-seconds",
      "300",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    const deadline = Date.now() + 30_000;
    while (!first.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      first += value;
    }
    reader.releaseLock();
    const base = first.match(/listening (http:\/\/127\.0\.0\.1:\d+\/)/)?.[1];
    assert.ok(base, `the server did not start: ${first}`);
    const probe = await fetch(`${base}${MODULE}`);
    assert.equal(probe.status, 200);
    await probe.body?.cancel();
    await fn(base);
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await server.stdout.cancel().catch(() => {});
  }
}

Deno.test("examples/cycle.ts runs against mod.ts imported from an HTTP URL", async () => {
  await withServedRepo(async (base) => {
    const url = `${base}${MODULE}`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        // The served modules change with every edit and the port with every run: keep
        // them out of deno.lock (a stale hash under a reused port would fail the check).
        "--no-lock",
        "--reload=http://127.0.0.1",
        `${ROOT}examples/cycle.ts`,
        url,
        "--train",
        "512",
        "--test",
        "256",
        "--classes",
        "16",
        "--l",
        "4",
        "--epochs",
        "1",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, err);
    const result = JSON.parse(new TextDecoder().decode(out.stdout).trim());
    assert.equal(result.module, url);
    assert.match(err, new RegExp(`module ${url.replace(/[.]/g, "\\.")}`));
    for (const k of ["linearProbeTop1", "knnTop1", "nmi", "ari"]) {
      assert.ok(result[k] > 0.2 && result[k] <= 1, `${k} = ${result[k]}`);
    }
  });
});

/** The script a user writes: k-means, then top-l labels, from the core entry point. */
const CORE_SCRIPT = (url: string) =>
  `import { assignLabels, createGpu, kmeans } from "${url}";
const gpu = await createGpu();
const rows = 300, cols = 16;
const data = new Float32Array(rows * cols).map((_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
const x = { data, rows, cols };
const { centroids } = await kmeans(gpu, x, { k: 7, niter: 5 });
const { indices } = await assignLabels(gpu, x, centroids, { l: 3 });
console.log(JSON.stringify({ k: centroids.rows, labels: indices.length }));
gpu.destroy();
`;

/** npm packages in a DENO_DIR's npm cache: one folder per package (scopes count their own). */
async function cachedNpmPackages(denoDir: string): Promise<string[]> {
  const found: string[] = [];
  const list = async (dir: string) => {
    try {
      return (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.isDirectory);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  };
  for (const registry of await list(`${denoDir}/npm`)) {
    for (const pkg of await list(`${denoDir}/npm/${registry.name}`)) {
      if (!pkg.name.startsWith("@")) found.push(`${registry.name}/${pkg.name}`);
      else {
        const scoped = await list(`${denoDir}/npm/${registry.name}/${pkg.name}`);
        for (const s of scoped) found.push(`${registry.name}/${pkg.name}/${s.name}`);
      }
    }
  }
  return found.sort();
}

Deno.test("kmeans + assignLabels from mod.ts over HTTP with an empty DENO_DIR download no npm package", async () => {
  // Every npm request goes to a registry of our own that counts it and has nothing: a
  // regression fails here at once instead of downloading hundreds of megabytes.
  const requested: string[] = [];
  const registry = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    requested.push(new URL(req.url).pathname);
    return new Response("not found", { status: 404 });
  });
  try {
    await withServedRepo(async (base) => {
      await withDir(async (dir) => {
        // A user's directory outside the repository: no deno.json, an empty cache.
        const denoDir = `${dir}/deno_dir`;
        await Deno.mkdir(denoDir);
        await Deno.writeTextFile(`${dir}/cluster.ts`, CORE_SCRIPT(`${base}mod.ts`));
        assert.ok(CORE_SCRIPT("").trim().split("\n").length <= 10);
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", "--no-lock", `${dir}/cluster.ts`],
          cwd: dir,
          env: {
            DENO_DIR: denoDir,
            DENO_NO_UPDATE_CHECK: "1",
            NPM_CONFIG_REGISTRY: `http://127.0.0.1:${registry.addr.port}/`,
          },
          stdout: "piped",
          stderr: "piped",
        }).output();
        const err = new TextDecoder().decode(out.stderr);
        assert.deepEqual(requested, [], `npm packages were requested: ${requested.join(", ")}`);
        assert.equal(out.code, 0, err);
        assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), {
          k: 7,
          labels: 900,
        });
        // The cache was used (the modules came over HTTP into it) and holds no npm package.
        assert.ok((await Deno.stat(`${denoDir}/remote`)).isDirectory, "no remote module cache");
        assert.deepEqual(await cachedNpmPackages(denoDir), []);
        // deno cache also follows type imports (deno check would fetch what it fetches): none.
        const cache = await new Deno.Command(Deno.execPath(), {
          args: ["cache", "--no-lock", "--allow-import=127.0.0.1", `${dir}/cluster.ts`],
          cwd: dir,
          env: {
            DENO_DIR: denoDir,
            DENO_NO_UPDATE_CHECK: "1",
            NPM_CONFIG_REGISTRY: `http://127.0.0.1:${registry.addr.port}/`,
          },
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.deepEqual(requested, [], `npm packages were requested: ${requested.join(", ")}`);
        assert.equal(cache.code, 0, new TextDecoder().decode(cache.stderr));
        assert.deepEqual(await cachedNpmPackages(denoDir), []);
      });
    });
  } finally {
    await registry.shutdown();
  }
});
