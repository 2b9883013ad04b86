/**
 * Server-side SVG charts: a Vega-Lite spec compiled by `vega-lite` and rendered headless by
 * `vega`'s `View.toSVG()`. The only module that imports `vega` and `vega-lite`.
 *
 * @module
 */

import * as vega from "npm:vega@6.2.0";
import * as vl from "npm:vega-lite@6.4.1";

/** A Vega-Lite specification (a JSON object, see vega.github.io/vega-lite/docs). */
export type VegaLiteSpec = Record<string, unknown>;

/**
 * Renders a Vega-Lite spec to a standalone SVG string, without a browser.
 *
 * @param spec The Vega-Lite spec, data inlined (`data: { values: [...] }`).
 * @returns The `<svg>…</svg>` markup.
 * @throws {TypeError} When Vega-Lite rejects the spec.
 *
 * @example Usage
 * ```ts ignore
 * const svg = await renderVegaLiteSvg({
 *   data: { values: [{ x: 1, y: 2 }, { x: 2, y: 1 }] },
 *   mark: "line",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
 * });
 * ```
 */
export async function renderVegaLiteSvg(spec: VegaLiteSpec): Promise<string> {
  let compiled;
  try {
    compiled = vl.compile(spec as unknown as vl.TopLevelSpec).spec;
  } catch (e) {
    throw new TypeError(`Cannot compile the Vega-Lite chart: ${(e as Error).message}`);
  }
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
