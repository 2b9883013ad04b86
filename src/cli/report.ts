/**
 * `deno task report`: writes a self-contained `report.html` for a training run: loss and
 * learning rate per step, the k-means objective per iteration, the cluster-size distribution
 * and the eval table, as SVG charts rendered server-side by Vega-Lite.
 *
 * @example Usage
 * ```sh
 * deno task report --run-dir runs/a
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../fs/atomic.ts";
import { readRunReport, renderRunReport } from "../eval/run_report.ts";
import { logTo, progress, runCli, UsageError } from "./_cli.ts";
import { checkOutputFiles } from "../jobs/output_paths.ts";

const HELP = `Usage: mlcd report --run-dir <dir> [--out <file.html>] [--json]

Reads <dir>/metrics.jsonl (required), kmeans.json, eval.json and checkpoint.json (when
present) and writes one self-contained HTML page with SVG charts (Vega-Lite, rendered
without a browser): loss and learning rate per step, k-means objective per iteration,
cluster sizes, and the eval table (raw inputs, untrained and trained encoder).

Options:
  --run-dir DIR    the run directory (required)
  --out FILE       output page (default <dir>/report.html)
  --json           print a JSON summary on stdout
  -h, --help       this help`;

/** `mlcd report`'s entry point: parses `args` (see `--help`) and runs the command. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      "run-dir": { type: "string" },
      out: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const dir = values["run-dir"];
  if (!dir) throw new UsageError("Expected --run-dir <dir> but found none");
  const out = values.out ?? `${dir.replace(/\/+$/, "")}/report.html`;
  const data = await readRunReport(dir);
  await checkOutputFiles([{ flag: "--out", path: out }], [], {
    writer: { command: "report" },
    onLog: logTo("report"),
  });
  const html = await renderRunReport(data);
  await writeFileAtomic(out, new TextEncoder().encode(html));
  const summary = {
    runDir: dir,
    out,
    steps: data.steps.length,
    kmeansIterations: data.kmeans?.length ?? 0,
    evalRows: data.eval?.length ?? 0,
  };
  progress(
    `report: ${summary.steps} steps, ${summary.kmeansIterations} k-means iterations, ${summary.evalRows} eval rows → ${out}`,
  );
  if (values.json) console.log(JSON.stringify(summary));
}

if (import.meta.main) await runCli("report", main);
