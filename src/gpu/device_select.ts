// Which GPU a process uses on a multi-GPU node. Deno's WebGPU has no adapter choice beyond
// powerPreference: wgpu takes the first discrete GPU in the order the Vulkan loader lists them.
// That order can be changed before the Vulkan instance exists (Deno creates it lazily, on the
// first requestAdapter()) by Mesa's implicit layer VK_LAYER_MESA_device_select, which moves
// the device whose PCI address matches DRI_PRIME=pci-DDDD_BB_DD_F to the front (for every
// driver, NVIDIA's included). This file resolves the GPU a task was given (an explicit
// device, MLCD_DEVICE, Slurm's SLURM_STEP_GPUS/SLURM_JOB_GPUS with SLURM_LOCALID, or
// CUDA_VISIBLE_DEVICES) to that setting, by a pure function; docs/multi-gpu.md says what it
// relies on.

/** One GPU of the node, as the NVIDIA driver (or sysfs) describes it. */
export interface NodeGpu {
  /** PCI address, `dddd:bb:dd.f` in lower-case hex, e.g. `0000:3b:00.0`. */
  busId: string;
  /** The `/dev/nvidiaN` minor number (what Slurm's gres.conf indexes), or null when unknown. */
  minor: number | null;
  /** `GPU-…` UUID, or null when unknown. */
  uuid: string | null;
}

/** What {@linkcode resolveDeviceSelection} decided. */
export interface DeviceSelection {
  /** Environment variables to set before the first adapter request (empty: change nothing). */
  env: Record<string, string>;
  /**
   * Where the choice came from: the `device` option, `MLCD_DEVICE`, Slurm, CUDA_VISIBLE_DEVICES,
   * `user` (DRI_PRIME or MESA_VK_DEVICE_SELECT already set: left alone) or `none`.
   */
  source:
    | "option"
    | "MLCD_DEVICE"
    | "SLURM_STEP_GPUS"
    | "SLURM_JOB_GPUS"
    | "CUDA_VISIBLE_DEVICES"
    | "user"
    | "none";
  /** The chosen GPU's PCI address, or null. */
  busId: string | null;
  /** The chosen GPU's index among the node's GPUs in PCI order, or null. */
  index: number | null;
  /** One line on what was chosen and why (or why nothing could be). */
  note: string;
}

/** Inputs of {@linkcode resolveDeviceSelection}: all it reads, so that it stays pure. */
export interface DeviceSelectionInput {
  /**
   * The requested GPU: an index among the node's GPUs in PCI order (as nvidia-smi numbers
   * them), or a PCI address (`0000:3b:00.0`, `3b:00.0`) or a `GPU-…` UUID.
   */
  device?: number | string | undefined;
  /** The process environment (only the variables named in docs/multi-gpu.md are read). */
  env: Record<string, string | undefined>;
  /** The node's GPUs (see `listNodeGpus`), in any order. */
  gpus: NodeGpu[];
}

const BUS = /^(?:([0-9a-f]{4,8}):)?([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/i;

/**
 * Normalises a PCI address to `dddd:bb:dd.f` (lower-case, 4-digit domain), or null when `s`
 * is not one. NVIDIA's 8-digit domains (`00000000:3B:00.0`) are shortened.
 *
 * @param s A PCI address such as `0000:3b:00.0`, `00000000:3B:00.0` or `3b:00.0`.
 * @returns The normalised address, or null.
 *
 * @example Usage
 * ```ts
 * import { normalizeBusId } from "./device_select.ts";
 * console.log(normalizeBusId("00000000:3B:00.0")); // "0000:3b:00.0"
 * ```
 */
export function normalizeBusId(s: string): string | null {
  const m = BUS.exec(s.trim());
  if (!m) return null;
  const domain = parseInt(m[1] ?? "0", 16);
  if (domain > 0xffff) return null;
  return `${domain.toString(16).padStart(4, "0")}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}.${
    m[4]
  }`;
}

/**
 * The DRI_PRIME tag of Mesa's device-select layer for a PCI address: `pci-dddd_bb_dd_f`.
 *
 * @param busId A normalised PCI address (`dddd:bb:dd.f`).
 * @returns The tag.
 *
 * @example Usage
 * ```ts
 * import { driPrimeTag } from "./device_select.ts";
 * console.log(driPrimeTag("0000:3b:00.0")); // "pci-0000_3b_00_0"
 * ```
 */
export function driPrimeTag(busId: string): string {
  return `pci-${busId.replace(/[:.]/g, "_")}`;
}

function listOf(v: string | undefined): string[] | null {
  if (v === undefined) return null;
  const t = v.trim();
  if (t === "" || /^(all|none|void|nodevfiles)$/i.test(t) || t === "NoDevFiles") return null;
  return t.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** The GPU that `token` names among `gpus` (sorted by bus), by the rule of `kind`. */
function lookup(
  token: string,
  gpus: NodeGpu[],
  kind: "index" | "minor",
): { gpu: NodeGpu | null; why: string } {
  const bus = normalizeBusId(token);
  if (bus) {
    const gpu = gpus.find((g) => g.busId === bus) ?? null;
    // A PCI address needs no inventory: the layer matches it itself.
    return { gpu: gpu ?? { busId: bus, minor: null, uuid: null }, why: "" };
  }
  if (/^(GPU|MIG)-/i.test(token)) {
    if (/^MIG-/i.test(token)) return { gpu: null, why: `MIG device ${token} is not selectable` };
    const gpu = gpus.find((g) => g.uuid?.toLowerCase() === token.toLowerCase()) ?? null;
    return { gpu, why: gpu ? "" : `no GPU of this node has UUID ${token}` };
  }
  if (!/^\d+$/.test(token)) return { gpu: null, why: `"${token}" is not a GPU index` };
  const n = Number(token);
  if (kind === "minor" && gpus.some((g) => g.minor !== null)) {
    const gpu = gpus.find((g) => g.minor === n) ?? null;
    return { gpu, why: gpu ? "" : `no GPU of this node is /dev/nvidia${n}` };
  }
  const gpu = gpus[n] ?? null;
  return {
    gpu,
    why: gpu
      ? ""
      : gpus.length === 0
      ? `GPU ${n} cannot be mapped to a PCI address (no GPU inventory: no /proc/driver/nvidia/gpus or /sys/bus/pci)`
      : `GPU ${n} is out of range (this node lists ${gpus.length})`,
  };
}

/**
 * Resolves which GPU this process should use, and the environment setting that makes Deno's
 * WebGPU pick it. Pure: everything it reads is in `input`.
 *
 * Precedence: the `device` option, then `MLCD_DEVICE`, then a selection the user made
 * already (`DRI_PRIME` or `MESA_VK_DEVICE_SELECT` set: nothing is changed), then Slurm
 * (`SLURM_STEP_GPUS`, else `SLURM_JOB_GPUS`: the node's GPU numbers as gres.conf counts them,
 * i.e. `/dev/nvidiaN` minors; with several, the one at `SLURM_LOCALID`), then
 * `CUDA_VISIBLE_DEVICES` (its first entry: an index in PCI order, or a `GPU-…` UUID). A number
 * given as `device` or `MLCD_DEVICE` is an index in PCI order (as nvidia-smi numbers GPUs);
 * a PCI address or UUID is taken as is; `"list"` makes Mesa's layer print the GPUs it can
 * select and exit the process. The setting is `DRI_PRIME=pci-dddd_bb_dd_f`, read by Mesa's
 * VK_LAYER_MESA_device_select, which lists that GPU first.
 *
 * @param input The requested device, the environment and the node's GPUs.
 * @returns The decision; `env` is empty when nothing is to be changed.
 * @throws {RangeError} When the `device` option or `MLCD_DEVICE` names no GPU of this node
 * (an explicit request is never silently ignored).
 *
 * @example Usage
 * ```ts
 * import { resolveDeviceSelection } from "./device_select.ts";
 * const gpus = [0, 1].map((i) => ({ busId: `0000:${i + 0x3b}:00.0`, minor: i, uuid: null }));
 * const s = resolveDeviceSelection({ env: { SLURM_STEP_GPUS: "1" }, gpus });
 * console.log(s.env); // { DRI_PRIME: "pci-0000_3c_00_0" }
 * ```
 */
export function resolveDeviceSelection(input: DeviceSelectionInput): DeviceSelection {
  const { env } = input;
  const gpus = [...input.gpus].sort((a, b) => (a.busId < b.busId ? -1 : a.busId > b.busId ? 1 : 0));
  const chosen = (
    source: DeviceSelection["source"],
    gpu: NodeGpu,
    what: string,
  ): DeviceSelection => {
    const index = gpus.findIndex((g) => g.busId === gpu.busId);
    return {
      env: { DRI_PRIME: driPrimeTag(gpu.busId) },
      source,
      busId: gpu.busId,
      index: index >= 0 ? index : null,
      note: `GPU ${gpu.busId}${index >= 0 ? ` (#${index} of ${gpus.length})` : ""} from ${what}`,
    };
  };
  const none = (source: DeviceSelection["source"], note: string): DeviceSelection => ({
    env: {},
    source,
    busId: null,
    index: null,
    note,
  });
  const explicit: [DeviceSelection["source"], string | undefined][] = [
    ["option", input.device === undefined ? undefined : String(input.device)],
    ["MLCD_DEVICE", env.MLCD_DEVICE?.trim() || undefined],
  ];
  for (const [source, value] of explicit) {
    if (value === undefined) continue;
    if (value === "list") {
      // Mesa's layer prints the GPUs it can select (with PCI addresses) and exits.
      return {
        env: { MESA_VK_DEVICE_SELECT: "list" },
        source,
        busId: null,
        index: null,
        note: "listing the selectable GPUs (the process exits)",
      };
    }
    const { gpu, why } = lookup(value, gpus, "index");
    if (!gpu) {
      const name = source === "option" ? "device" : "MLCD_DEVICE";
      throw new RangeError(
        `Expected ${name} to name a GPU of this node (an index, a PCI address or a GPU UUID) but found ${
          JSON.stringify(value)
        }: ${why}`,
      );
    }
    return chosen(source, gpu, source === "option" ? `device ${value}` : `MLCD_DEVICE=${value}`);
  }
  for (const name of ["DRI_PRIME", "MESA_VK_DEVICE_SELECT"]) {
    if (env[name]) return none("user", `${name}=${env[name]} set by the user: left as it is`);
  }
  for (const name of ["SLURM_STEP_GPUS", "SLURM_JOB_GPUS"] as const) {
    const list = listOf(env[name]);
    if (!list || list.length === 0) continue;
    const local = Number(env.SLURM_LOCALID ?? "0");
    const at = list.length > 1 && Number.isInteger(local) && local >= 0 ? local % list.length : 0;
    const { gpu, why } = lookup(list[at]!, gpus, "minor");
    if (!gpu) return none("none", `${name}=${env[name]}: ${why}; the first GPU listed is used`);
    return chosen(
      name,
      gpu,
      `${name}=${env[name]}${list.length > 1 ? ` (entry ${at}, SLURM_LOCALID=${local})` : ""}`,
    );
  }
  const cuda = listOf(env.CUDA_VISIBLE_DEVICES);
  if (cuda && cuda.length > 0) {
    const { gpu, why } = lookup(cuda[0]!, gpus, "index");
    if (!gpu) {
      return none(
        "none",
        `CUDA_VISIBLE_DEVICES=${env.CUDA_VISIBLE_DEVICES}: ${why}; the first GPU listed is used`,
      );
    }
    return chosen("CUDA_VISIBLE_DEVICES", gpu, `CUDA_VISIBLE_DEVICES=${env.CUDA_VISIBLE_DEVICES}`);
  }
  return none("none", "no GPU requested: the first GPU the Vulkan loader lists is used");
}

/** The variables {@linkcode resolveDeviceSelection} reads. */
export const DEVICE_SELECT_ENV: readonly string[] = [
  "MLCD_DEVICE",
  "DRI_PRIME",
  "MESA_VK_DEVICE_SELECT",
  "SLURM_STEP_GPUS",
  "SLURM_JOB_GPUS",
  "SLURM_LOCALID",
  "CUDA_VISIBLE_DEVICES",
];

/** PCI vendors whose display/3D controllers count as GPUs in the sysfs fallback. */
const GPU_VENDORS = new Set(["0x10de", "0x1002", "0x8086"]);

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

function readDir(path: string): string[] {
  try {
    return [...Deno.readDirSync(path)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * The node's GPUs: from the NVIDIA driver (`/proc/driver/nvidia/gpus/<bus>/information`:
 * PCI address, `/dev/nvidiaN` minor, UUID), else from sysfs (NVIDIA, AMD and Intel display or
 * 3D controllers, without minors). Empty when neither can be read (no permission, not Linux).
 *
 * @param root The filesystem root to read under (tests pass a fake tree).
 * @returns The GPUs, sorted by PCI address.
 *
 * @example Usage
 * ```ts ignore
 * import { listNodeGpus } from "./device_select.ts";
 * console.log(listNodeGpus().map((g) => g.busId));
 * ```
 */
export function listNodeGpus(root = ""): NodeGpu[] {
  const out: NodeGpu[] = [];
  const nv = `${root}/proc/driver/nvidia/gpus`;
  for (const name of readDir(nv)) {
    const info = readText(`${nv}/${name}/information`) ?? "";
    const field = (key: string) => new RegExp(`^${key}:\\s*(.+)$`, "mi").exec(info)?.[1]?.trim();
    const busId = normalizeBusId(field("Bus Location") ?? name);
    if (!busId) continue;
    const minor = Number(field("Device Minor"));
    out.push({
      busId,
      minor: Number.isInteger(minor) ? minor : null,
      uuid: field("GPU UUID") ?? null,
    });
  }
  if (out.length > 0) return out.sort((a, b) => (a.busId < b.busId ? -1 : 1));
  const pci = `${root}/sys/bus/pci/devices`;
  for (const name of readDir(pci)) {
    const cls = readText(`${pci}/${name}/class`)?.trim() ?? "";
    const vendor = readText(`${pci}/${name}/vendor`)?.trim().toLowerCase() ?? "";
    const busId = normalizeBusId(name);
    if (busId && /^0x030[02]/.test(cls) && GPU_VENDORS.has(vendor)) {
      out.push({ busId, minor: null, uuid: null });
    }
  }
  return out.sort((a, b) => (a.busId < b.busId ? -1 : 1));
}

function envGranted(name: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted";
  } catch {
    return false;
  }
}

let instanceSelection: DeviceSelection | null = null;

/**
 * Resolves (see {@linkcode resolveDeviceSelection}) and applies the GPU selection of this
 * process: sets its environment variables before the first adapter request, which creates the
 * process's one Vulkan instance. Later calls cannot move that instance to another GPU: asking
 * for a different one throws. Reads only the variables it may read without a permission
 * prompt; without env permission nothing is applied (an explicit `device` then throws).
 *
 * @param device The requested GPU (`CreateGpuOptions.device`), or undefined.
 * @returns What was decided (also for later calls: the first decision).
 * @throws {RangeError} When `device` or MLCD_DEVICE names no GPU of this node, or differs from
 * the GPU this process already uses.
 *
 * @example Usage
 * ```ts ignore
 * import { applyDeviceSelection } from "./device_select.ts";
 * console.error(applyDeviceSelection(undefined).note);
 * ```
 */
export function applyDeviceSelection(device: number | string | undefined): DeviceSelection {
  const env: Record<string, string | undefined> = {};
  for (const name of DEVICE_SELECT_ENV) if (envGranted(name)) env[name] = Deno.env.get(name);
  const wanted = device !== undefined || env.MLCD_DEVICE;
  const gpus = wanted || env.SLURM_STEP_GPUS || env.SLURM_JOB_GPUS || env.CUDA_VISIBLE_DEVICES
    ? listNodeGpus()
    : [];
  if (instanceSelection) {
    if (device === undefined) return instanceSelection;
    const again = resolveDeviceSelection({ device, env, gpus });
    if (again.busId !== instanceSelection.busId) {
      throw new RangeError(
        `Expected device ${device} to be the GPU this process already uses (${
          instanceSelection.busId ?? "the loader's first"
        }): Deno creates one WebGPU instance per process; run one process per GPU`,
      );
    }
    return instanceSelection;
  }
  const s = resolveDeviceSelection({ device, env, gpus });
  for (const [name, value] of Object.entries(s.env)) {
    if (!envGranted(name)) {
      if (device !== undefined) {
        throw new RangeError(`Cannot select GPU ${device}: setting ${name} needs --allow-env`);
      }
      return instanceSelection = {
        ...s,
        env: {},
        note: `${s.note} (not applied: no env permission)`,
      };
    }
    Deno.env.set(name, value);
  }
  return instanceSelection = s;
}
