// The bench report shared by the sections: rows, roofline lines, notes, and the markdown
// and console tables they end up in.
import type { PeakResult } from "../src/gpu/peak.ts";
import { autotuneCacheDir } from "../src/gpu/autotune.ts";
import { writeFileAtomic } from "../src/fs/atomic.ts";
// ---------------------------------------------------------------------------------------
// Results

/** One line of the ratio table. */
export interface Row {
  section: string;
  tool: string;
  shape: string;
  /** Seconds for the whole task (extrapolated when `note` says so). */
  seconds: number | null;
  /** Quality figure: objective, recall or loss value. */
  quality: string;
  /** Peer time / our time (> 1: ours faster); for a variant, our time / its time. */
  ratio: number | null;
  /** Our baseline row, a variant of ours, or a peer; ratios are computed per section. */
  kind: "ours" | "variant" | "peer";
  note: string;
}

export interface Roofline {
  kernel: string;
  shape: string;
  gflop: number;
  ms: number;
  gflops: number;
  peakGflops: number;
  fraction: number;
  timing: string;
}

export const rows: Row[] = [];
export const roofline: Roofline[] = [];
export const notes: string[] = [];
export const tunings: string[] = [];
export const details: Record<string, unknown> = {};

export function log(line: string): void {
  console.error(`bench: ${line}`);
}

let childResultPath: string | null = null;

/** Makes this process a section child that writes its rows to `path`. */
export function setChildResultPath(path: string): void {
  childResultPath = path;
}

/** In a section's child process, rewrites the result file so far (survives a later hang). */
export function flush(): void {
  if (!childResultPath) return;
  const tmp = `${childResultPath}.tmp`;
  Deno.writeTextFileSync(tmp, JSON.stringify({ rows, roofline, details, notes, tunings }));
  Deno.renameSync(tmp, childResultPath);
}

export function emit(row: Row): void {
  rows.push(row);
  flush();
}

export function skip(
  section: string,
  tool: string,
  shape: string,
  why: string,
  kind: Row["kind"] = "peer",
): void {
  emit({ section, tool, shape, seconds: null, quality: "—", ratio: null, kind, note: why });
  log(`${section} / ${tool}: ${why}`);
}

/** Fills every row's ratio from its section's "ours" row. */
export function computeRatios(): void {
  for (const r of rows) {
    const base = rows.find((o) => o.section === r.section && o.kind === "ours" && o.seconds);
    if (!base || r.seconds === null || r.kind === "ours") r.ratio = null;
    else if (r.kind === "variant") r.ratio = base.seconds! / r.seconds;
    else r.ratio = r.seconds / base.seconds!;
  }
  const order = { ours: 0, variant: 1, peer: 2 };
  const sections = [...new Set(rows.map((r) => r.section))];
  rows.sort((a, b) =>
    sections.indexOf(a.section) - sections.indexOf(b.section) || order[a.kind] - order[b.kind]
  );
}

export function fail(section: string, tool: string, shape: string, e: unknown): void {
  const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 240);
  skip(section, tool, shape, `error: ${msg}`);
}

export function addRoofline(
  kernel: string,
  shape: string,
  gflop: number,
  ms: number,
  peakGflops: number,
  timing: string,
): void {
  const gflops = gflop / (ms / 1000);
  flushLater();
  roofline.push({
    kernel,
    shape,
    gflop,
    ms,
    gflops,
    peakGflops,
    fraction: gflops / peakGflops,
    timing,
  });
}

export function flushLater(): void {
  queueMicrotask(flush);
}

// ---------------------------------------------------------------------------------------
// Report

export function tildeHome(path: string): string {
  const home = Deno.env.get("HOME");
  return home && path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

export function fmtSeconds(s: number | null): string {
  if (s === null) return "—";
  return s >= 100
    ? `${s.toFixed(0)} s`
    : s >= 1
    ? `${s.toFixed(2)} s`
    : `${(s * 1000).toFixed(0)} ms`;
}

export function fmtRatio(r: number | null): string {
  return r === null || !Number.isFinite(r) ? "" : `${r.toFixed(2)}×`;
}

export function markdown(meta: Record<string, unknown>, peak: PeakResult | null): string {
  const lines: string[] = [];
  lines.push(`# mlcd benchmarks: ${meta.machine}`);
  lines.push("");
  lines.push(
    `${meta.date} · adapter **${meta.adapter}** · CPU ${meta.cpu} (${meta.cores} cores) · ` +
      `Deno ${meta.deno} · ${meta.quick ? "`--quick` shapes" : "full shapes"}`,
  );
  lines.push("");
  lines.push(`Reproduce: \`${meta.command}\``);
  lines.push("");
  lines.push(
    "Ratio = peer time / mlcd time (above 1: mlcd is faster); for the f16 row, f32 time / " +
      "f16 time.",
  );
  lines.push("");
  lines.push("| task | tool | shape | time | quality | ratio | note |");
  lines.push("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    lines.push(
      `| ${r.section} | ${r.tool} | ${r.shape} | ${fmtSeconds(r.seconds)} | ${r.quality} | ${
        fmtRatio(r.ratio)
      } | ${r.note} |`,
    );
  }
  lines.push("");
  if (peak) {
    lines.push(
      `Measured peak (register-only multiply-add loop, \`src/gpu/peak.ts\`, ${peak.timing}): ` +
        `fp32 ${peak.f32.gflops.toFixed(1)} GFLOP/s` +
        (peak.f16 ? `, packed f16 ${peak.f16.gflops.toFixed(1)} GFLOP/s` : "") + ".",
    );
    lines.push("");
  }
  if (roofline.length) {
    lines.push("| kernel (roofline) | shape | GFLOP | ms | GFLOP/s | of fp32 peak | timing |");
    lines.push("|---|---|---|---|---|---|---|");
    for (const r of roofline) {
      lines.push(
        `| ${r.kernel} | ${r.shape} | ${r.gflop.toFixed(2)} | ${r.ms.toFixed(1)} | ${
          r.gflops.toFixed(1)
        } | ${(r.fraction * 100).toFixed(0)}% | ${r.timing} |`,
      );
    }
    lines.push("");
  }
  const tr = details.transfer as
    | Record<string, { uploadGBs: number; readbackGBs: number; chunks: number } | number>
    | undefined;
  if (tr) {
    const parts = Object.entries(tr).filter(([k]) => k !== "mib").map(([k, v]) => {
      const t = v as { uploadGBs: number; readbackGBs: number; chunks: number };
      return `${k} (${t.chunks} chunk${t.chunks === 1 ? "" : "s"}): upload ${
        t.uploadGBs.toFixed(2)
      } GB/s, readback ${t.readbackGBs.toFixed(2)} GB/s`;
    });
    lines.push(`Transfers of ${tr.mib} MiB (wall time): ${parts.join("; ")}.`);
    lines.push("");
  }
  if (tunings.length) {
    lines.push(
      `Autotune (per-adapter cache \`${
        tildeHome(autotuneCacheDir() ?? "(none)")
      }/autotune.json\`, ` +
        "`MLCD_AUTOTUNE=0` disables): " + tunings.join("; ") + ".",
    );
    lines.push("");
  }
  for (const n of notes) lines.push(`- ${n}`);
  lines.push("");
  return lines.join("\n");
}

export function printTable(): void {
  const head = ["task", "tool", "shape", "time", "quality", "ratio"];
  const body = rows.map((
    r,
  ) => [r.section, r.tool, r.shape, fmtSeconds(r.seconds), r.quality, fmtRatio(r.ratio)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
  for (const r of rows) {
    if (r.seconds === null) console.log(`  ${r.section} / ${r.tool}: ${r.note}`);
  }
  for (const t of tunings) console.log(`autotune  ${t.replaceAll("**", "")}`);
  if (roofline.length) {
    console.log("");
    for (const r of roofline) {
      console.log(
        `roofline  ${r.kernel.padEnd(34)} ${r.gflops.toFixed(1).padStart(8)} GFLOP/s = ${
          (r.fraction * 100).toFixed(0).padStart(3)
        }% of ${r.peakGflops.toFixed(1)} (${r.timing})`,
      );
    }
  }
}

export function writeAtomic(path: string, text: string): Promise<void> {
  return writeFileAtomic(path, new TextEncoder().encode(text));
}
