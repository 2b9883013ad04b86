import assert from "node:assert/strict";
import {
  driPrimeTag,
  listNodeGpus,
  type NodeGpu,
  normalizeBusId,
  resolveDeviceSelection,
} from "../src/gpu/device_select.ts";

/**
 * An 8-GPU node as the NVIDIA driver lists it. The minors are deliberately not in PCI order
 * (it happens when cards are renumbered), so minor-based and index-based lookups differ.
 */
const BUSES = ["18", "2a", "3a", "5d", "9a", "ab", "ba", "db"];
const MINORS = [0, 1, 2, 3, 7, 6, 5, 4];
const NODE: NodeGpu[] = BUSES.map((b, i) => ({
  busId: `0000:${b}:00.0`,
  minor: MINORS[i]!,
  uuid: `GPU-0000000${i}-aaaa-bbbb-cccc-dddddddddddd`,
}));

function pick(env: Record<string, string>, device?: number | string, gpus = NODE) {
  return resolveDeviceSelection({ env, gpus: [...gpus].reverse(), device });
}

Deno.test("normalizeBusId() and driPrimeTag() read the PCI address forms in use", () => {
  assert.equal(normalizeBusId("0000:3b:00.0"), "0000:3b:00.0");
  assert.equal(normalizeBusId("00000000:3B:00.0"), "0000:3b:00.0");
  assert.equal(normalizeBusId("3b:00.0"), "0000:3b:00.0");
  assert.equal(normalizeBusId(" 0001:c1:1f.7 "), "0001:c1:1f.7");
  for (const bad of ["3b:00", "0000:3b:00.8", "x", "123456789:3b:00.0", "3"]) {
    assert.equal(normalizeBusId(bad), null, bad);
  }
  assert.equal(driPrimeTag("0000:3b:00.0"), "pci-0000_3b_00_0");
});

Deno.test("resolveDeviceSelection() takes Slurm's GPU numbers as /dev/nvidiaN minors", () => {
  // --gres=gpu:1 array task that got GPU 4 (= /dev/nvidia4, the card at db:00.0).
  let s = pick({ SLURM_STEP_GPUS: "4", SLURM_JOB_GPUS: "4", CUDA_VISIBLE_DEVICES: "0" });
  assert.deepEqual(s.env, { DRI_PRIME: "pci-0000_db_00_0" });
  assert.equal(s.source, "SLURM_STEP_GPUS");
  assert.equal(s.busId, "0000:db:00.0");
  assert.equal(s.index, 7);
  // Only the job-level variable (sbatch without srun).
  s = pick({ SLURM_JOB_GPUS: "2" });
  assert.equal(s.source, "SLURM_JOB_GPUS");
  assert.equal(s.busId, "0000:3a:00.0");
  // One step over 8 GPUs with 8 tasks: task SLURM_LOCALID takes the entry at its local id.
  for (let local = 0; local < 8; local++) {
    s = pick({ SLURM_STEP_GPUS: "0,1,2,3,4,5,6,7", SLURM_LOCALID: String(local) });
    assert.equal(s.busId, NODE.find((g) => g.minor === local)!.busId, `local ${local}`);
  }
  // More tasks than GPUs wrap around; the step's list wins over the job's.
  s = pick({ SLURM_STEP_GPUS: "5,6", SLURM_JOB_GPUS: "0", SLURM_LOCALID: "3" });
  assert.equal(s.busId, "0000:ab:00.0");
  // Without minors (sysfs inventory), a Slurm number is an index in PCI order.
  const noMinor = NODE.map((g) => ({ ...g, minor: null }));
  assert.equal(pick({ SLURM_STEP_GPUS: "4" }, undefined, noMinor).busId, "0000:9a:00.0");
});

Deno.test("resolveDeviceSelection() reads CUDA_VISIBLE_DEVICES as PCI-order indices or UUIDs", () => {
  let s = pick({ CUDA_VISIBLE_DEVICES: "5" });
  assert.equal(s.source, "CUDA_VISIBLE_DEVICES");
  assert.equal(s.busId, "0000:ab:00.0");
  assert.equal(s.index, 5);
  s = pick({ CUDA_VISIBLE_DEVICES: "3,1" }); // CUDA's device 0 is the first entry
  assert.equal(s.busId, "0000:5d:00.0");
  s = pick({ CUDA_VISIBLE_DEVICES: "gpu-00000006-AAAA-bbbb-cccc-dddddddddddd" });
  assert.equal(s.busId, "0000:ba:00.0");
  for (const none of ["", "all", "NoDevFiles", "void"]) {
    assert.equal(pick({ CUDA_VISIBLE_DEVICES: none }).source, "none", none);
  }
  // Unmappable entries change nothing, and say why.
  s = pick({ CUDA_VISIBLE_DEVICES: "MIG-1234" });
  assert.deepEqual(s.env, {});
  assert.match(s.note, /MIG device MIG-1234 is not selectable/);
  s = pick({ CUDA_VISIBLE_DEVICES: "9" });
  assert.deepEqual(s.env, {});
  assert.match(s.note, /GPU 9 is out of range \(this node lists 8\)/);
  s = pick({ SLURM_STEP_GPUS: "1" }, undefined, []);
  assert.deepEqual(s.env, {});
  assert.match(s.note, /cannot be mapped to a PCI address/);
});

Deno.test("resolveDeviceSelection() puts the device option and MLCD_DEVICE first, and respects the user's own choice", () => {
  const slurm = { SLURM_STEP_GPUS: "4", CUDA_VISIBLE_DEVICES: "1" };
  let s = pick({ ...slurm, MLCD_DEVICE: "2" }, 6);
  assert.equal(s.source, "option");
  assert.equal(s.busId, "0000:ba:00.0");
  s = pick({ ...slurm, MLCD_DEVICE: "2" });
  assert.equal(s.source, "MLCD_DEVICE");
  assert.equal(s.busId, "0000:3a:00.0");
  // A PCI address needs no inventory.
  s = pick({ MLCD_DEVICE: "00000000:C1:00.0" }, undefined, []);
  assert.deepEqual(s.env, { DRI_PRIME: "pci-0000_c1_00_0" });
  assert.equal(s.index, null);
  s = pick({}, "GPU-00000001-aaaa-bbbb-cccc-dddddddddddd");
  assert.equal(s.busId, "0000:2a:00.0");
  // DRI_PRIME or MESA_VK_DEVICE_SELECT set by the user: Slurm does not override them.
  for (const user of [{ DRI_PRIME: "1" }, { MESA_VK_DEVICE_SELECT: "10de:2330" }]) {
    s = pick({ ...slurm, ...user });
    assert.equal(s.source, "user");
    assert.deepEqual(s.env, {});
  }
  // ... but an explicit request does.
  assert.equal(pick({ DRI_PRIME: "1" }, 3).busId, "0000:5d:00.0");
  assert.deepEqual(pick({ MLCD_DEVICE: "list" }).env, { MESA_VK_DEVICE_SELECT: "list" });
  assert.equal(pick({}).source, "none");
  assert.deepEqual(pick({}).env, {});
});

Deno.test("resolveDeviceSelection() refuses an explicit device it cannot find", () => {
  assert.throws(() => pick({}, 8), {
    name: "RangeError",
    message:
      'Expected device to name a GPU of this node (an index, a PCI address or a GPU UUID) but found "8": GPU 8 is out of range (this node lists 8)',
  });
  assert.throws(() => pick({ MLCD_DEVICE: "first" }), {
    name: "RangeError",
    message:
      'Expected MLCD_DEVICE to name a GPU of this node (an index, a PCI address or a GPU UUID) but found "first": "first" is not a GPU index',
  });
});

Deno.test("listNodeGpus() reads the NVIDIA driver's GPU list, else sysfs", async () => {
  const root = await Deno.makeTempDir({ prefix: "mlcd_gpus_" });
  try {
    const pciDev = (bus: string, cls: string, vendor: string) => {
      const dir = `${root}/sys/bus/pci/devices/${bus}`;
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeTextFileSync(`${dir}/class`, `${cls}\n`);
      Deno.writeTextFileSync(`${dir}/vendor`, `${vendor}\n`);
    };
    pciDev("0000:02:00.0", "0x030000", "0x1a03"); // the BMC's VGA: not a GPU
    pciDev("0000:3b:00.0", "0x030200", "0x10de");
    pciDev("0000:18:00.0", "0x030200", "0x10de");
    pciDev("0000:5e:00.0", "0x020000", "0x15b3"); // a NIC
    assert.deepEqual(listNodeGpus(root), [
      { busId: "0000:18:00.0", minor: null, uuid: null },
      { busId: "0000:3b:00.0", minor: null, uuid: null },
    ]);
    for (const [bus, minor] of [["00000000:3B:00.0", 0], ["00000000:18:00.0", 1]] as const) {
      const dir = `${root}/proc/driver/nvidia/gpus/${bus.slice(4).toLowerCase()}`;
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeTextFileSync(
        `${dir}/information`,
        `Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 42\nGPU UUID: \t GPU-${minor}abc\n` +
          `Video BIOS: \t 96.00.99.00.01\nBus Type: \t PCIe\nDMA Size: \t 52 bits\n` +
          `Bus Location: \t ${bus}\nDevice Minor: \t ${minor}\nGPU Firmware: \t 535.1\n`,
      );
    }
    assert.deepEqual(listNodeGpus(root), [
      { busId: "0000:18:00.0", minor: 1, uuid: "GPU-1abc" },
      { busId: "0000:3b:00.0", minor: 0, uuid: "GPU-0abc" },
    ]);
    assert.deepEqual(listNodeGpus(`${root}/missing`), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const LAYER = "/usr/share/vulkan/implicit_layer.d/VkLayer_MESA_device_select.json";
const hasLayer = (() => {
  try {
    return Deno.statSync(LAYER).isFile;
  } catch {
    return false;
  }
})();
const gpuUrl = new URL("../src/gpu/gpu.ts", import.meta.url).href;

async function runDeno(code: string, env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", code],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test({
  name:
    "createGpu() sets the selection before the Vulkan instance exists, where Mesa's device-select layer reads it",
  // Needs the software adapter and Mesa's layer (mesa-vulkan-drivers); CI must have both.
  ignore: !hasLayer && Deno.env.get("CI") !== "true",
  fn: async () => {
    // The layer reads its variables when the instance is created, so the setting must be in
    // place before createGpu()'s first requestAdapter(): MLCD_DEVICE=list asks the layer to
    // print the devices and exit, before the adapter request returns.
    const list = await runDeno(
      `import { createGpu } from "${gpuUrl}";
       await createGpu();
       console.log("adapter returned");`,
      { MLCD_DEVICE: "list" },
    );
    assert.equal(list.code, 0, list.text);
    assert.match(list.text, /selectable devices:\n\s+GPU 0: /);
    assert.doesNotMatch(list.text, /adapter returned/);
    // The explicit device sets DRI_PRIME; on this one-device machine no PCI address matches,
    // so the layer keeps its order and the adapter still comes back.
    const picked = await runDeno(
      `import { createGpu } from "${gpuUrl}";
       const gpu = await createGpu({ device: "0000:3b:00.0" });
       console.log(JSON.stringify({ prime: Deno.env.get("DRI_PRIME"), s: gpu.selection }));
       try { await createGpu({ device: "3c:00.0" }); } catch (e) { console.log(e.name + ": " + e.message); }
       gpu.destroy();`,
      { SLURM_STEP_GPUS: "3" },
    );
    assert.equal(picked.code, 0, picked.text);
    const line = JSON.parse(picked.text.split("\n").find((l) => l.startsWith("{"))!);
    assert.equal(line.prime, "pci-0000_3b_00_0");
    assert.equal(line.s.source, "option");
    assert.match(
      picked.text,
      /RangeError: Expected device 3c:00\.0 to be the GPU this process already uses \(0000:3b:00\.0\)/,
    );
  },
});
