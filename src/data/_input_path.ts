// Private to src/data: the one rule for input paths. Every path the data layer reads (an input
// given by name, or a file found in an input directory) must be, after following symlinks, a
// regular file or a directory. Anything else (a FIFO, a socket, a character or block device) is
// refused by name before it is opened: opening a FIFO blocks until a writer comes, reading one
// consumes it, and its size (0) says nothing about what it would deliver.

/** What a path that is neither a regular file nor a directory is, in words. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isFifo) return "a FIFO (named pipe)";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "neither";
}

/**
 * Stats an input path (following symlinks) and refuses anything but a regular file or a
 * directory.
 *
 * @throws {Deno.errors.NotFound} When the path does not exist (the message names it).
 * @throws {TypeError} When it is not a regular file or a directory (naming it and its kind).
 */
export async function statInput(path: string): Promise<Deno.FileInfo> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`No such file or directory: ${path}`);
    }
    throw error;
  }
  checkInputKind(path, info);
  return info;
}

/**
 * The rule alone, for readers that open one file by path: refuses a path that exists and is not
 * a regular file or a directory; any other stat failure (a missing file) is left to the reader's
 * own open, which names it as before.
 */
export async function checkInputPath(path: string): Promise<void> {
  const info = await Deno.stat(path).catch(() => undefined);
  if (info) checkInputKind(path, info);
}

function checkInputKind(path: string, info: Deno.FileInfo): void {
  if (!info.isFile && !info.isDirectory) {
    throw new TypeError(
      `Expected ${path} to be a regular file or a directory but found ${kindOf(info)}`,
    );
  }
}
