// Peak resident memory of this process (Linux `VmHWM`), for the CLIs' --json summaries and
// the out-of-core benchmark.

/** Peak resident set size in bytes from `/proc/self/status` (`VmHWM`), or null elsewhere. */
export function peakRssBytes(): number | null {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
