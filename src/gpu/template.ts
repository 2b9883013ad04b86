// Shared helpers of the unrolled "rows in registers" kernels (k-means assignment, top-k):
// the WGSL template expander and the size of the uniform blocks they stream.

/**
 * Expands a kernel template: keeps the //@f32 or //@f16 lines, the lines starting with
 * //@t:a,b and the blocks between a line `//@if:a,b` and a line `//@end` (not nested) whose
 * tags include one of `tags`, sets `const NAME: u32` values, and repeats
 * lines ending in //@r, //@j, //@jr, //@rj over r in [0, R) and j in [0, D4)
 * (substituting {r} and {j}) when R and D4 are given.
 */
export function specialize(
  code: string,
  f16: boolean,
  consts: Record<string, number> = {},
  tags: readonly string[] = [],
): string {
  const R = consts.R ?? 0, D4 = consts.D4 ?? 0;
  const out: string[] = [];
  let block: boolean | null = null; // inside //@if: whether its lines are kept
  for (let line of code.split("\n")) {
    const open = /^\s*\/\/@if:([\w,]+)\s*$/.exec(line);
    if (open) {
      if (block !== null) throw new Error("Expected //@end before a nested //@if: in a template");
      block = open[1]!.split(",").some((tag) => tags.includes(tag));
      continue;
    }
    if (/^\s*\/\/@end\s*$/.test(line)) {
      if (block === null) throw new Error("Expected //@if: before //@end in a template");
      block = null;
      continue;
    }
    if (block === false) continue;
    const t = /^(\s*)\/\/@t:([\w,]+) (.*)$/.exec(line);
    const m = /^(\s*)\/\/@f16 (.*)$/.exec(line);
    if (t) {
      if (!t[2]!.split(",").some((tag) => tags.includes(tag))) continue;
      line = t[1]! + t[3]!;
    } else if (m) {
      if (!f16) continue;
      line = m[1]! + m[2]!;
    } else if (line.includes("//@f32")) {
      if (f16) continue;
      line = line.replace(/\s*\/\/@f32/, "");
    }
    const rep = /^(.*?)\s*\/\/@(rj|jr|r|j)$/.exec(line);
    if (!rep) {
      out.push(line);
      continue;
    }
    const body = rep[1]!, kind = rep[2]!;
    const sub = (r: number, j: number) =>
      body.replaceAll("{r}", String(r)).replaceAll("{j}", String(j));
    if (kind === "r") { for (let r = 0; r < R; r++) out.push(sub(r, 0)); }
    else if (kind === "j") { for (let j = 0; j < D4; j++) out.push(sub(0, j)); }
    else if (kind === "rj") {
      for (let r = 0; r < R; r++) for (let j = 0; j < D4; j++) out.push(sub(r, j));
    } else for (let j = 0; j < D4; j++) for (let r = 0; r < R; r++) out.push(sub(r, j));
  }
  if (block !== null) throw new Error("Expected //@end after //@if: in a template");
  let text = out.join("\n");
  for (const [name, v] of Object.entries(consts)) {
    text = text.replace(new RegExp(`const ${name}: u32 = \\d+u;`), `const ${name}: u32 = ${v}u;`);
  }
  return text;
}

/**
 * Rows per 64 KiB uniform block of a rows-in-registers kernel for padded width `dp`
 * (block bytes a multiple of 256, the uniform offset alignment); 0 when one row does not
 * fit a block. `packed`: rows stored as f16, eight halves per 16 bytes.
 */
export function uniformBlockRows(dp: number, packed = false): number {
  const units = packed ? dp / 8 : dp / 4;
  let kb = Math.floor(4096 / units);
  while (kb > 0 && (kb * units) % 16 !== 0) kb--;
  return kb;
}
