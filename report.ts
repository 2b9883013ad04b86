/**
 * A run's report: Vega-Lite charts rendered to SVG, and one self-contained `report.html` of a
 * run directory (loss and learning rate, k-means objective and cluster sizes, evaluation).
 * npm: `vega` and `vega-lite`.
 *
 * @example Render a run's report
 * ```ts ignore
 * import { readRunReport, renderRunReport } from "./report.ts";
 * const html = await renderRunReport(await readRunReport("runs/demo/mlcd-l8"));
 * ```
 *
 * @module
 */
export * from "./src/eval/charts.ts";
export * from "./src/eval/run_report.ts";
