// Test helper: DuckDB (npm @duckdb/node-api, installed by .ci/run into a temp prefix) as the
// independent Parquet reader and writer. Tests that need it are `peerTest`s with
// `needs: [DUCKDB]`: ignored with the reason outside CI, failing under CI=true when it is missing.
import { existsSync } from "node:fs";
import type { Peer } from "./_peer.ts";

/** Where `npm install --prefix` put @duckdb/node-api (MLCD_DUCKDB_DIR, else /tmp/mlcd-duckdb). */
export const DUCKDB_DIR = Deno.env.get("MLCD_DUCKDB_DIR") ?? "/tmp/mlcd-duckdb";

/** Why DuckDB cannot run here, or null when it can. */
export const DUCKDB_MISSING: string | null =
  existsSync(`${DUCKDB_DIR}/node_modules/@duckdb/node-api/package.json`)
    ? null
    : `@duckdb/node-api is not installed in ${DUCKDB_DIR} (npm install --prefix ${DUCKDB_DIR} @duckdb/node-api@1.5.6-r.1)`;

/** DuckDB as an optional peer of tests/_peer.ts. */
export const DUCKDB: Peer = {
  name: "DuckDB (npm @duckdb/node-api, installed by .ci/run)",
  missing: DUCKDB_MISSING,
};

const PEER = new URL("./_duckdb_peer.ts", import.meta.url).pathname;

/** Runs SQL statements in one DuckDB database; returns each statement's rows (JSON form). */
export async function duckdb(sql: string[]): Promise<unknown[][][]> {
  if (DUCKDB_MISSING) throw new Error(`DuckDB is needed: ${DUCKDB_MISSING}`);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", "--node-modules-dir=manual", "--no-lock", PEER],
    cwd: DUCKDB_DIR,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { DENO_NO_UPDATE_CHECK: "1" },
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(sql)));
  await w.close();
  const o = await child.output();
  const err = new TextDecoder().decode(o.stderr);
  if (o.code !== 0) throw new Error(`DuckDB failed (exit ${o.code}): ${err}`);
  return JSON.parse(new TextDecoder().decode(o.stdout));
}

/** A SQL string literal. */
export function lit(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}
