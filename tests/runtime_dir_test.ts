import assert from "node:assert/strict";
import { ensureRuntimeDir } from "../src/gpu/runtime_dir.ts";
import { withEnv } from "./_env.ts";
import { withDir } from "./_tmp.ts";

const linuxLike = Deno.build.os !== "windows" && Deno.build.os !== "darwin";

Deno.test({
  name:
    "ensureRuntimeDir() keeps a valid XDG_RUNTIME_DIR and replaces unset, relative or missing ones",
  ignore: !linuxLike,
  fn: async () => {
    await withDir((tmp) => {
      const uid = Deno.uid()!;
      const own = `${tmp}/mlcd-runtime-${uid}`;
      withEnv({ XDG_RUNTIME_DIR: tmp, TMPDIR: tmp }, () => {
        assert.deepEqual(ensureRuntimeDir(), { dir: tmp, changed: false });
        assert.equal(Deno.env.get("XDG_RUNTIME_DIR"), tmp);
      });
      for (const bad of [undefined, "", "relative/dir", `${tmp}/missing`]) {
        withEnv({ XDG_RUNTIME_DIR: bad, TMPDIR: tmp }, () => {
          assert.deepEqual(ensureRuntimeDir(), { dir: own, changed: true }, String(bad));
          assert.equal(Deno.env.get("XDG_RUNTIME_DIR"), own);
        });
      }
      const st = Deno.lstatSync(own);
      assert.ok(st.isDirectory);
      assert.equal(st.mode! & 0o777, 0o700);
      // A directory left with looser permissions is tightened back to 0700.
      Deno.chmodSync(own, 0o755);
      withEnv({ XDG_RUNTIME_DIR: undefined, TMPDIR: tmp }, () => ensureRuntimeDir());
      assert.equal(Deno.lstatSync(own).mode! & 0o777, 0o700);
      // Someone else's path (here a symlink) is never used: a fresh private dir instead.
      Deno.removeSync(own);
      Deno.mkdirSync(`${tmp}/elsewhere`);
      Deno.symlinkSync(`${tmp}/elsewhere`, own);
      withEnv({ XDG_RUNTIME_DIR: undefined, TMPDIR: tmp }, () => {
        const r = ensureRuntimeDir();
        assert.equal(r.changed, true);
        assert.notEqual(r.dir, own);
        assert.ok(r.dir!.startsWith(`${tmp}/mlcd-runtime-`), r.dir!);
        const s = Deno.lstatSync(r.dir!);
        assert.ok(s.isDirectory && !s.isSymlink);
        assert.equal(s.mode! & 0o777, 0o700);
      });
      return Promise.resolve();
    }, "mlcd_rtdir_");
  },
});
