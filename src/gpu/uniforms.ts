/** Scalar types a uniform block field may have. */
export type UniformType = "u32" | "i32" | "f32";

/** A uniform block's fields in WGSL declaration order, name → type. */
export type UniformFields = Record<string, UniformType>;

/**
 * A uniform block with a computed layout: scalars at 4-byte offsets in declaration order, the
 * block padded to 16 bytes. Programs pack their values with it instead of at hand-written byte
 * offsets, and `dispatch` checks the WGSL `struct` against it when it compiles the shader.
 */
export interface UniformStruct<F extends UniformFields = UniformFields> {
  /** The fields, in order. */
  readonly fields: F;
  /** Byte offset of every field. */
  readonly offsets: { readonly [K in keyof F]: number };
  /** Size of the packed block in bytes (a multiple of 16). */
  readonly byteLength: number;
  /**
   * Packs one value per field (u32/i32: integers in range; f32: any number).
   *
   * @throws {RangeError} When a value is missing or does not fit its field's type.
   */
  pack(values: { readonly [K in keyof F]: number }): Uint8Array<ArrayBuffer>;
}

/**
 * Declares a uniform block; see {@linkcode UniformStruct}.
 *
 * @param fields Field names and types, in the order of the WGSL `struct` (padding fields,
 * named with a leading `_`, are left out: the block is padded to 16 bytes).
 * @returns The block's layout and packer.
 *
 * @example Usage
 * ```ts
 * import { uniformStruct } from "./uniforms.ts";
 * const params = uniformStruct({ rows: "u32", scale: "f32" });
 * console.log(params.offsets.scale, params.byteLength); // 4 16
 * const bytes = params.pack({ rows: 10, scale: 0.5 });
 * ```
 */
export function uniformStruct<F extends UniformFields>(fields: F): UniformStruct<F> {
  const names = Object.keys(fields);
  const offsets = Object.fromEntries(names.map((n, i) => [n, i * 4])) as {
    [K in keyof F]: number;
  };
  const byteLength = Math.max(16, Math.ceil((names.length * 4) / 16) * 16);
  return {
    fields,
    offsets,
    byteLength,
    pack(values) {
      const buf = new ArrayBuffer(byteLength);
      const view = new DataView(buf);
      names.forEach((name, i) => {
        const v = (values as Record<string, number>)[name];
        const type = fields[name]!;
        if (typeof v !== "number") {
          throw new RangeError(`Expected uniform field ${name} to be a number but found ${v}`);
        }
        if (type === "f32") view.setFloat32(i * 4, v, true);
        else {
          const [lo, hi] = type === "u32" ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
          if (!Number.isInteger(v) || v < lo || v > hi) {
            throw new RangeError(
              `Expected uniform field ${name} to be a ${type} in [${lo}, ${hi}] but found ${v}`,
            );
          }
          if (type === "u32") view.setUint32(i * 4, v, true);
          else view.setInt32(i * 4, v, true);
        }
      });
      return new Uint8Array(buf);
    },
  };
}

/**
 * The non-padding fields of the WGSL struct bound as `@group(0) @binding(0) var<uniform>`, as
 * `name: type` strings in order, or null when the shader has no such scalar struct.
 *
 * @param code WGSL source.
 * @returns The fields, or null.
 *
 * @example Usage
 * ```ts
 * import { wgslUniformFields } from "./uniforms.ts";
 * const code = "struct P { n: u32, _p: u32 }\n@group(0) @binding(0) var<uniform> p: P;";
 * console.log(wgslUniformFields(code)); // ["n: u32"]
 * ```
 */
export function wgslUniformFields(code: string): string[] | null {
  const plain = code.replace(/\/\/.*$/gm, "");
  const bind = /@group\(0\)\s*@binding\(0\)\s*var<uniform>\s*\w+\s*:\s*(\w+)/.exec(plain);
  if (!bind) return null;
  const decl = new RegExp(`struct\\s+${bind[1]}\\s*\\{([^}]*)\\}`).exec(plain);
  if (!decl) return null;
  const fields = decl[1]!.split(",").map((f) => f.trim()).filter((f) => f.length > 0);
  const out: string[] = [];
  for (const f of fields) {
    const m = /^(\w+)\s*:\s*(\w+)$/.exec(f);
    if (!m) return null; // vectors, arrays, attributes: not a plain scalar block
    if (!m[1]!.startsWith("_")) out.push(`${m[1]}: ${m[2]}`);
  }
  return out;
}
