// Private: the one module that imports parquet-wasm (arrow-rs' Parquet reader and writer,
// compiled to WebAssembly), with the apache-arrow classes that carry its row groups as Arrow
// IPC. Everything Parquet in the toolkit goes through src/parquet/.
export * as pw from "npm:parquet-wasm@0.8.0";
export * as arrow from "npm:apache-arrow@21.2.0";
