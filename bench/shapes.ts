// Problem shapes of `deno task bench` (full and --quick).
// ---------------------------------------------------------------------------------------
// Shapes

export interface Shapes {
  kmeans: { n: number; d: number; k: number; niter: number; mlN: number };
  topk: { keys: number; queries: number; d: number; k: number };
  loss: { n: number; d: number; C: number; l: number; ratio: number; repeats: number };
}

export const FULL: Shapes = {
  kmeans: { n: 100_000, d: 128, k: 1000, niter: 25, mlN: 2_000 },
  topk: { keys: 100_000, queries: 10_000, d: 128, k: 8 },
  loss: { n: 512, d: 512, C: 100_000, l: 8, ratio: 0.1, repeats: 3 },
};

export const QUICK: Shapes = {
  kmeans: { n: 20_000, d: 128, k: 1000, niter: 10, mlN: 2_000 },
  topk: { keys: 20_000, queries: 1_000, d: 128, k: 8 },
  loss: { n: 128, d: 128, C: 10_000, l: 8, ratio: 0.1, repeats: 2 },
};
