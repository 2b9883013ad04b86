// What machine a bench run is on: CPU model, a file-name slug, CPU counters.
// ---------------------------------------------------------------------------------------
// Environment

export async function cpuModel(): Promise<string> {
  try {
    const text = await Deno.readTextFile("/proc/cpuinfo");
    const m = text.match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1]!.trim();
  } catch { /* not Linux */ }
  return `${Deno.build.arch} cpu`;
}

export function slug(s: string): string {
  return s.toLowerCase().replace(/\(r\)|\(tm\)|cpu|processor|@.*$/g, " ")
    .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "");
}

/** e.g. "lavapipe-2core-amd-epyc" or "nvidia-h100-80gb-hbm3-16core-amd-epyc-9454". */
export function machineSlug(adapter: string, cpu: string, cores: number): string {
  let a = adapter.replace(/\(.*$/, "").trim();
  if (/^llvmpipe/i.test(a)) a = "lavapipe"; // Mesa's Vulkan name for the llvmpipe adapter
  const words = slug(a).split("-").slice(0, 4).join("-") || "adapter";
  const c = slug(cpu).split("-").slice(0, 4).join("-") || "cpu";
  return `${words}-${cores}core-${c}`;
}

/** CPU seconds used by every process on the machine and by this one (with children). */
export async function cpuCounters(): Promise<{ total: number; self: number } | null> {
  try {
    const stat = (await Deno.readTextFile("/proc/stat")).split("\n")[0]!.trim().split(/\s+/);
    const f = stat.slice(1).map(Number);
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!; // minus idle, iowait
    const self = await Deno.readTextFile("/proc/self/stat");
    const g = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    // fields 14..17 (utime stime cutime cstime) are at 11..14 after "pid (comm) "
    const mine = g[11]! + g[12]! + g[13]! + g[14]!;
    return { total: busy / 100, self: mine / 100 }; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}
