// Private to scripts/: the one walk of the source trees that the checks (check_gpu_rules.ts,
// check_layers.ts, check_file_lines.ts) read.

/**
 * The files at or under `path` whose names end in one of `extensions`, in sorted order,
 * skipping node_modules/ and dot-entries below `path`; nothing when `path` does not exist.
 */
export async function* sourceFiles(
  path: string,
  extensions: readonly string[] = [".ts", ".js", ".mjs"],
): AsyncGenerator<string> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch {
    return;
  }
  if (info.isFile) {
    if (extensions.some((ext) => path.endsWith(ext))) yield path;
    return;
  }
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  for (const name of names.sort()) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    yield* sourceFiles(`${path}/${name}`, extensions);
  }
}
