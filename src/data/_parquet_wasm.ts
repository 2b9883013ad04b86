// Private to src/data: the one module that imports parquet-wasm (arrow-rs' Parquet reader and
// writer, compiled to WebAssembly). Its row groups come over as Arrow IPC, read with the
// apache-arrow of _arrow_ipc.ts. Loaded only through the Parquet modules (parquet.ts), never by
// the npm-free core.
export * as pw from "npm:parquet-wasm@0.8.0";
