// Private to src/eval: the three programs of the linear probe (kernels/probe_*.wgsl): the
// logits of a block of rows, the per-row softmax pass (the cross-entropy gradient of a
// mini-batch, or a prediction and its loss), and the Adam step of every parameter.
import logitsCode from "../../kernels/probe_logits.wgsl" with { type: "text" };
import rowsCode from "../../kernels/probe_rows.wgsl" with { type: "text" };
import updateCode from "../../kernels/probe_update.wgsl" with { type: "text" };
import { type Program, workgroupsFor } from "../gpu/program.ts";
import { uniformStruct } from "../gpu/uniforms.ts";

const WORKGROUP = 64; // @workgroup_size of the three kernels

const LOGITS = uniformStruct({
  rows: "u32",
  Cp: "u32",
  d4: "u32",
  idxOff: "u32",
  rowStart: "u32",
  gather: "u32",
});
const ROWS = uniformStruct({
  rows: "u32",
  C: "u32",
  Cp: "u32",
  idxOff: "u32",
  rowStart: "u32",
  mode: "u32",
  batch: "f32",
});
const UPDATE = uniformStruct({
  Cp: "u32",
  d4: "u32",
  cbOff: "u32",
  cbCount: "u32",
  batch: "u32",
  idxOff: "u32",
  lr: "f32",
  l2x2: "f32",
  b1: "f32",
  oneMinusB1: "f32",
  b2: "f32",
  oneMinusB2: "f32",
  bc1: "f32",
  bc2: "f32",
  eps: "f32",
});

/** Which rows a block covers: a mini-batch through the epoch's order, or consecutive rows. */
export type ProbeRows = { idxOff: number } | { rowStart: number };

/**
 * The probe's padded sizes: features of `d` values stored as `d4` vec4s per row, `C` classes
 * padded to `Cp` (a multiple of 16, the classes one invocation handles), parameters of
 * `Cp × (d4 + 1)` vec4s (class c's weights, then its bias).
 */
export interface ProbeShape {
  /** Feature vec4s per row: ceil(d / 4). */
  d4: number;
  /** Classes. */
  C: number;
  /** Classes padded to a multiple of 16. */
  Cp: number;
}

/** The padded sizes of `d` features and `C` classes. */
export function probeShape(d: number, C: number): ProbeShape {
  return { d4: Math.ceil(d / 4), C, Cp: Math.ceil(C / 16) * 16 };
}

/**
 * Logits of `rows` rows (`rows × Cp`, bias included). Bindings: features (`n × d4` vec4s),
 * the epoch's order, parameters, logits.
 */
export function probeLogitsProgram(s: ProbeShape, rows: number, at: ProbeRows): Program {
  const gather = "idxOff" in at;
  return {
    shaderKey: "probe_logits",
    code: logitsCode,
    workgroupSize: WORKGROUP,
    workgroups: workgroupsFor({ workgroupSize: WORKGROUP }, Math.ceil(rows / 4) * (s.Cp / 16)),
    uniformStruct: LOGITS,
    uniforms: LOGITS.pack({
      rows,
      Cp: s.Cp,
      d4: s.d4,
      idxOff: gather ? at.idxOff : 0,
      rowStart: gather ? 0 : at.rowStart,
      gather: gather ? 1 : 0,
    }),
  };
}

/**
 * The per-row pass over `rows` logits: with `idxOff`, the mini-batch's cross-entropy gradient
 * in place; with `rowStart`, each row's prediction and loss. Bindings: logits, the epoch's
 * order, labels, predictions (2 values per row).
 */
export function probeRowsProgram(s: ProbeShape, rows: number, at: ProbeRows): Program {
  const train = "idxOff" in at;
  return {
    shaderKey: "probe_rows",
    code: rowsCode,
    workgroupSize: WORKGROUP,
    workgroups: workgroupsFor({ workgroupSize: WORKGROUP }, rows),
    uniformStruct: ROWS,
    uniforms: ROWS.pack({
      rows,
      C: s.C,
      Cp: s.Cp,
      idxOff: train ? at.idxOff : 0,
      rowStart: train ? 0 : at.rowStart,
      mode: train ? 0 : 1,
      batch: rows,
    }),
  };
}

/** One step's Adam hyperparameters (the bias corrections of its step count included). */
export interface ProbeStep {
  lr: number;
  l2: number;
  b1: number;
  b2: number;
  eps: number;
  /** The step, from 1. */
  t: number;
}

/**
 * The gradient and Adam step of the parameters of `cbCount` blocks of 16 classes from block
 * `cbOff`, for a mini-batch of `batch` rows at `idxOff` of the epoch's order. Bindings:
 * features, the epoch's order, the batch's gradient, parameters, m, v.
 */
export function probeUpdateProgram(
  s: ProbeShape,
  at: { batch: number; idxOff: number; cbOff: number; cbCount: number },
  step: ProbeStep,
): Program {
  return {
    shaderKey: "probe_update",
    code: updateCode,
    workgroupSize: WORKGROUP,
    workgroups: workgroupsFor({ workgroupSize: WORKGROUP }, (s.d4 + 1) * at.cbCount),
    uniformStruct: UPDATE,
    uniforms: UPDATE.pack({
      Cp: s.Cp,
      d4: s.d4,
      ...at,
      lr: step.lr,
      l2x2: 2 * step.l2,
      b1: step.b1,
      oneMinusB1: 1 - step.b1,
      b2: step.b2,
      oneMinusB2: 1 - step.b2,
      bc1: 1 - Math.pow(step.b1, step.t),
      bc2: 1 - Math.pow(step.b2, step.t),
      eps: step.eps,
    }),
  };
}
