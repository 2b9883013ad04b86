// DuckDB, the independent Parquet implementation the Parquet tests compare with. It runs as
// its own Deno process (DuckDB's N-API binary loads under Deno) with the npm install that
// .ci/run makes in a temp prefix as its working directory, so it is no project dependency:
//
//   cd $MLCD_DUCKDB_DIR && deno run -A --no-config --node-modules-dir=manual _duckdb_peer.ts
//
// It reads a JSON array of SQL statements on stdin, runs them in order in one in-memory
// database, and prints one JSON array: the rows of each statement (DuckDB's JSON form: lists
// as arrays, 64-bit integers as strings).

// Loaded by a specifier `deno check` does not follow: DuckDB is not a project dependency.
interface DuckDb {
  DuckDBInstance: {
    create(path: string, options?: Record<string, string>): Promise<{
      connect(): Promise<{ runAndReadAll(sql: string): Promise<{ getRowsJson(): unknown[][] }> }>;
    }>;
  };
}
const spec = "npm:@duckdb/node-api@1.5.6-r.1";
const { DuckDBInstance } = await (import(spec) as Promise<DuckDb>);

const sql = JSON.parse(await new Response(Deno.stdin.readable).text()) as string[];
const db = await DuckDBInstance.create(":memory:", { threads: "1" });
const c = await db.connect();
const out: unknown[] = [];
for (const q of sql) out.push((await c.runAndReadAll(q)).getRowsJson());
console.log(JSON.stringify(out));
