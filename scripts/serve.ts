// A tiny static file server for the URL-import test: serves a directory on 127.0.0.1.
//
//   deno run --allow-net=127.0.0.1 --allow-read scripts/serve.ts [--root DIR] [--port N] [--max-seconds S]
//
// Prints "listening http://127.0.0.1:<port>/" on stdout once ready (port 0 = a free port),
// exits after --max-seconds (default 600) so a forgotten server cannot linger.
import { parseArgs } from "node:util";
import { extname, join, normalize, resolve } from "node:path";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    root: { type: "string", default: "." },
    port: { type: "string", default: "0" },
    "max-seconds": { type: "string", default: "600" },
  },
});
const root = resolve(values.root);
const TYPES: Record<string, string> = {
  ".ts": "application/typescript; charset=utf-8",
  ".js": "application/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wgsl": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
};

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  onListen: ({ port }) => console.log(`listening http://127.0.0.1:${port}/`),
}, async (req) => {
  const path = normalize(decodeURIComponent(new URL(req.url).pathname));
  const file = join(root, path);
  if (!file.startsWith(root + "/") || path.split("/").includes("..")) {
    return new Response("forbidden", { status: 403 });
  }
  try {
    const body = await Deno.readFile(file);
    return new Response(body, {
      headers: { "content-type": TYPES[extname(file)] ?? "application/octet-stream" },
    });
  } catch {
    return new Response("not found", { status: 404 });
  }
});
const timer = setTimeout(() => server.shutdown(), Number(values["max-seconds"]) * 1000);
await server.finished;
clearTimeout(timer);
