// The Python peers (faiss, scikit-learn, torch) of the bench sections.
export const HERE = new URL(".", import.meta.url).pathname;
export const PEERS_PY = `${HERE}peers/mlcd_peers.py`;
export const KMEANS_PEERS_PY = `${HERE}peers/kmeans_peers.py`;
export const TOPK_PEERS_PY = `${HERE}peers/topk_peers.py`;
// ---------------------------------------------------------------------------------------
// Python peers

export interface Python {
  exe: string;
  faiss: string | null;
  sklearn: string | null;
  numpy: string | null;
}

export async function runPython(
  exe: string,
  script: string,
  args: string[],
  timeoutS: number,
): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(exe, {
    args: [script, ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutS * 1000),
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").pop() ?? "";
    throw new Error(`${script.split("/").pop()} ${args[0]} exited with ${out.code}: ${err}`);
  }
  return JSON.parse(text.split("\n").pop()!);
}

export async function findPython(): Promise<Python | null> {
  const candidates = [Deno.env.get("MLCD_PYTHON"), "/usr/bin/python3", "python3"].filter(
    (p): p is string => !!p,
  );
  let best: Python | null = null;
  for (const exe of candidates) {
    try {
      const p = await runPython(exe, PEERS_PY, ["probe"], 60);
      const found: Python = {
        exe,
        faiss: (p.faiss as string | null) ?? null,
        sklearn: (p.sklearn as string | null) ?? null,
        numpy: (p.numpy as string | null) ?? null,
      };
      const score = (x: Python | null) => x ? (x.faiss ? 2 : 0) + (x.sklearn ? 1 : 0) : -1;
      if (score(found) > score(best)) best = found;
      if (found.faiss && found.sklearn) break;
    } catch { /* not there */ }
  }
  return best;
}

export const INSTALL_FAISS =
  "not installed: apt-get install -y python3-faiss (or pip install faiss-cpu); MLCD_PYTHON picks the interpreter";
export const INSTALL_SKLEARN =
  "not installed: apt-get install -y python3-sklearn (or pip install scikit-learn); MLCD_PYTHON picks the interpreter";
