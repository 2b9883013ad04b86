// The run report: Vega-Lite SVG charts rendered server-side into one self-contained page.
import assert from "node:assert/strict";
import { clusterSizes, readRunReport, renderRunReport } from "../src/eval/run_report.ts";
import { errLines, runDeno } from "./_cli.ts";
import { withDir } from "./_tmp.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const metrics = (v: number) => ({
  linearProbeTop1: v,
  knnTop1: v,
  nmi: v / 2,
  ari: v / 3,
  recallAt1: v,
  recallAt5: v,
  recallAt10: v,
});

async function fakeRun(dir: string) {
  const lines = [];
  for (let s = 1; s <= 12; s++) {
    lines.push(JSON.stringify({ step: s, loss: 20 - s, lr: s * 1e-4, epoch: 1 }));
  }
  // A resumed run re-logs step 12: the later line wins.
  lines.push(JSON.stringify({ step: 12, loss: 7.5, lr: 1e-5, epoch: 1 }));
  await Deno.writeTextFile(`${dir}/metrics.jsonl`, lines.join("\n") + "\n");
  await Deno.writeTextFile(
    `${dir}/kmeans.json`,
    JSON.stringify({
      iterations: [0, 1, 2].map((i) => ({
        iteration: i,
        objective: 100 + i,
        imbalanceFactor: 1.2,
      })),
      clusterSizes: [5, 1, 9, 0],
    }),
  );
  await Deno.writeTextFile(
    `${dir}/eval.json`,
    JSON.stringify({ step: 12, ...metrics(0.9), baseline: metrics(0.5), raw: metrics(0.7) }),
  );
  await Deno.writeTextFile(
    `${dir}/checkpoint.json`,
    JSON.stringify({ config: { encoder: "vit", l: 8 } }),
  );
}

Deno.test("clusterSizes() counts rows per cluster", () => {
  assert.deepEqual([...clusterSizes(new Uint32Array([2, 0, 2, 2, 9]), { k: 3 })], [1, 0, 3]);
});

Deno.test("readRunReport() reads steps (later lines win), k-means stats, eval rows and config", async () => {
  await withDir(async (dir) => {
    await fakeRun(dir);
    const d = await readRunReport(dir);
    assert.equal(d.steps.length, 12);
    assert.equal(d.steps.at(-1)!.loss, 7.5);
    assert.deepEqual(d.kmeans!.map((k) => k.objective), [100, 101, 102]);
    assert.deepEqual(d.clusterSizes, [5, 1, 9, 0]);
    assert.deepEqual(d.eval!.map((r) => r[0]), [
      "raw inputs",
      "untrained encoder",
      "trained (step 12)",
    ]);
    assert.equal(d.config!.encoder, "vit");
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step":1,"loss":1,"lr":1}\nnot json\n');
    await assert.rejects(() => readRunReport(dir), {
      name: "TypeError",
      message: `Cannot parse ${dir}/metrics.jsonl line 2: not JSON`,
    });
  });
});

Deno.test("renderRunReport() writes one self-contained page with five Vega SVG charts and the eval table", async () => {
  await withDir(async (dir) => {
    await fakeRun(dir);
    const html = await renderRunReport(await readRunReport(dir));
    const svgs = html.match(/<svg[\s>]/g) ?? [];
    assert.equal(svgs.length, 5, "loss, lr, k-means objective, cluster sizes, eval bars");
    assert.ok(!/<script/i.test(html), "no script");
    assert.ok(!/(src|href)="https?:/i.test(html), "no external resource");
    for (
      const t of [
        "MLCD loss per step",
        "learning rate per step",
        "k-means objective",
        "imbalance factor 1.902", // 4 · (25 + 1 + 81) / 15²
        "raw inputs",
        "untrained encoder",
        "trained (step 12)",
      ]
    ) assert.ok(html.includes(t), t);
    // Vega draws one line path per series and one bar per cluster (marks carry role classes).
    assert.equal((html.match(/class="mark-line role-mark[^"]*"/g) ?? []).length, 3);
    assert.match(html, /class="mark-rect role-mark[^"]*"/);
    assert.equal((html.match(/<td class="best">0\.9000<\/td>/g) ?? []).length, 5);
  });
});

Deno.test("deno task report writes report.html; a run without a log is one line, exit 2", async () => {
  await withDir(async (dir) => {
    await fakeRun(dir);
    let r = await runDeno([`${ROOT}src/cli/report.ts`, "--run-dir", dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await Deno.readTextFile(`${dir}/report.html`)).startsWith("<!doctype html>"));
    r = await runDeno([`${ROOT}src/cli/report.ts`, "--run-dir", `${dir}/none`]);
    assert.equal(r.code, 2);
    assert.deepEqual(errLines(r.stderr), [
      `mlcd report: No training log ${dir}/none/metrics.jsonl`,
    ]);
  });
});

/** The labels of a chart's x axis (Vega writes an axis' labels in one role-axis-label group). */
function xAxisLabels(svg: string): string[] {
  const group = svg.slice(svg.indexOf("role-axis-label"));
  const labels: string[] = [];
  for (const m of group.matchAll(/<text[^>]*>([^<]*)<\/text>|<\/g>/g)) {
    if (m[0] === "</g>") break;
    labels.push(m[1]!);
  }
  return labels;
}

for (const k of [1, 10, 50, 100, 201, 10000]) {
  Deno.test(`renderRunReport(): the cluster-size axis at k = ${k} spans [1, k] with a few whole-number labels`, async () => {
    const sizes = Array.from({ length: k }, (_, i) => (i * 7919) % 97);
    const html = await renderRunReport({ runDir: "r", steps: [], clusterSizes: sizes });
    const svg = html.match(/<svg[\s\S]*?<\/svg>/)![0];
    const ranks = xAxisLabels(svg).map((s) => Number(s.replaceAll(",", "")));
    assert.ok(ranks.length >= 1 && ranks.length <= 12, `${ranks.length} labels: ${ranks}`);
    for (const r of ranks) assert.ok(Number.isInteger(r) && r >= 1 && r <= k, `label ${r}`);
    if (k <= 10) assert.deepEqual(ranks, Array.from({ length: k }, (_, i) => i + 1));
    // One bar per cluster while bars are wide enough, else one area; the page stays small.
    const rects = (svg.match(/aria-roledescription="rect mark"/g) ?? []).length;
    const areas = (svg.match(/aria-roledescription="area mark"/g) ?? []).length;
    assert.deepEqual([rects, areas], k <= 200 ? [k, 0] : [0, 1]);
    assert.ok(svg.length < 120_000, `${svg.length} characters`);
    assert.match(svg, new RegExp(`cluster sizes \\(k = ${k.toLocaleString("en-US")},`));
  });
}

Deno.test("renderRunReport(): the eval legend shows whole row names, in the table's order", async () => {
  const html = await renderRunReport({
    runDir: "r",
    steps: [],
    eval: [
      ["raw inputs", metrics(0.7)],
      ["untrained encoder", metrics(0.5)],
      ["trained (step final)", metrics(0.9)],
    ],
  });
  const svg = [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].at(-1)![0];
  const legend = [
    ...svg.slice(svg.indexOf("role-legend-label")).matchAll(/<text[^>]*>([^<]*)<\/text>/g),
  ]
    .map((m) => m[1]).slice(0, 3);
  assert.deepEqual(legend, ["raw inputs", "untrained encoder", "trained (step final)"]);
  const columns = ["linear probe top-1", "kNN top-1", "NMI"].map((t) => svg.indexOf(`>${t}<`));
  assert.ok(columns.every((at, i) => at > 0 && (i === 0 || at > columns[i - 1]!)), `${columns}`);
});
