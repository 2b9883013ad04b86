// AdamW (decoupled weight decay) and the warmup + cosine learning-rate schedule, on tf ops.
import { tf } from "../model/tf.ts";

/** Options of {@linkcode AdamW}. */
export interface AdamWOptions {
  /** First-moment decay. @default {0.9} */
  beta1?: number;
  /** Second-moment decay. @default {0.999} */
  beta2?: number;
  /** Denominator epsilon. @default {1e-8} */
  eps?: number;
  /** Decoupled weight decay for parameters where `decay(name)` is true. @default {0} */
  weightDecay?: number;
  /** Which parameters get weight decay. @default {name => !name.endsWith(".bias")} */
  decay?: (name: string) => boolean;
}

/**
 * AdamW over named tf.Variables; its moments are named tf.Variables too (`m.<name>`,
 * `v.<name>`) so checkpoints can store and restore them exactly.
 *
 * @example Usage
 * ```ts ignore
 * const opt = new AdamW(params, { weightDecay: 0.2 });
 * const { grads } = tf.variableGrads(() => loss());
 * opt.step(grads, 1e-3);
 * ```
 */
export class AdamW {
  /** The parameters, by name. */
  readonly params: Map<string, tf.Variable>;
  /** First moments, by parameter name. */
  readonly m: Map<string, tf.Variable> = new Map();
  /** Second moments, by parameter name. */
  readonly v: Map<string, tf.Variable> = new Map();
  /** Number of steps taken (bias correction uses it). */
  t = 0;
  readonly #b1: number;
  readonly #b2: number;
  readonly #eps: number;
  readonly #wd: number;
  readonly #decay: (name: string) => boolean;

  /**
   * Creates the optimizer and zero moments for every parameter.
   *
   * @param params Parameters by name.
   * @param options See {@linkcode AdamWOptions}.
   */
  constructor(params: Map<string, tf.Variable>, options: AdamWOptions = {}) {
    this.params = params;
    this.#b1 = options.beta1 ?? 0.9;
    this.#b2 = options.beta2 ?? 0.999;
    this.#eps = options.eps ?? 1e-8;
    this.#wd = options.weightDecay ?? 0;
    this.#decay = options.decay ?? ((n) => !n.endsWith(".bias"));
    for (const [name, p] of params) {
      this.m.set(name, tf.variable(tf.zerosLike(p), false));
      this.v.set(name, tf.variable(tf.zerosLike(p), false));
    }
  }

  /**
   * Applies one update. Parameters without a gradient (not in `grads`) are left unchanged.
   *
   * @param grads Gradients keyed like `params` (or by the variables' tf names).
   * @param lr The learning rate of this step.
   */
  step(grads: Record<string, tf.Tensor>, lr: number): void {
    this.t++;
    const bc1 = 1 - Math.pow(this.#b1, this.t);
    const bc2 = 1 - Math.pow(this.#b2, this.t);
    for (const [name, p] of this.params) {
      const g = grads[name] ?? grads[p.name];
      if (!g) continue;
      const m = this.m.get(name)!, v = this.v.get(name)!;
      tf.tidy(() => {
        const m1 = tf.add(tf.mul(m, this.#b1), tf.mul(g, 1 - this.#b1));
        const v1 = tf.add(tf.mul(v, this.#b2), tf.mul(tf.square(g), 1 - this.#b2));
        m.assign(m1);
        v.assign(v1);
        const upd = tf.div(tf.div(m1, bc1), tf.add(tf.sqrt(tf.div(v1, bc2)), this.#eps));
        const wd = this.#decay(name) ? this.#wd : 0;
        const shrunk = wd > 0 ? tf.mul(p, 1 - lr * wd) : p;
        p.assign(tf.sub(shrunk, tf.mul(upd, lr)));
      });
    }
  }

  /** Releases the moment variables. */
  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose();
  }
}

/**
 * The learning rate at `step` (0-based): linear warmup to `peak` over `warmupSteps`, then
 * cosine decay to 0 at `totalSteps`.
 *
 * @param step The step about to run.
 * @param totalSteps All steps of the run.
 * @param warmupSteps Warmup length.
 * @param peak Peak learning rate.
 * @returns The learning rate.
 *
 * @example Usage
 * ```ts
 * import { learningRate } from "./adamw.ts";
 * console.log(learningRate(0, 100, 0, 1)); // 1
 * ```
 */
export function learningRate(
  step: number,
  totalSteps: number,
  warmupSteps: number,
  peak: number,
): number {
  if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
  const span = Math.max(1, totalSteps - warmupSteps);
  const p = Math.min(1, (step - warmupSteps) / span);
  return peak * 0.5 * (1 + Math.cos(Math.PI * p));
}
