// The one module that loads the native addon. The literal path lets `bun build --compile` embed the
// addon; scripts/build.sh stages the right architecture's build at native/dist/addon.node and
// addon.napi (scripts/build-native.sh writes both: a tree built before addon.napi existed needs
// `npm run build` again).
// Loaded lazily: commands that need no native code (push, pull, compose) never extract it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExitCode, UserError, oneLine } from "./errors.ts";
// A path: the file itself when run from source, inside the executable (/$bunfs/...) when compiled.
// addon.napi is addon.node under a name Bun does not load by itself on import (build-native.sh).
import addonFile from "../native/dist/addon.napi" with { type: "file" };

import type { ExportLayerResult, FileDigest, LayerExport, TreeScanOptions, TreeScanResult } from "../native/index.d.ts";

export type { ExportLayerOptions, ExportLayerResult, ExportProgress, TreeScanResult } from "../native/index.d.ts";

interface Addon {
  LayerExport: typeof LayerExport;
  sha256File(path: string): Promise<FileDigest>;
  scanTree(options: TreeScanOptions): Promise<TreeScanResult>;
}

let addon: Addon | undefined;

export function native(): Addon {
  if (!addon) {
    try {
      addon = loadAddon(addonFile);
    } catch (error) {
      if (error instanceof UserError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      // dlopen of a file on a noexec mount: "failed to map segment from shared object".
      throw new UserError(
        `cannot load the native core: ${oneLine(message)}` +
          (/noexec|EACCES|permission|failed to map segment/i.test(message) ? ` (${addonDirVariable()} ${addonParent()} must allow executing files: set BUN_TMPDIR to a directory that does)` : ""),
        ExitCode.Failure,
      );
    }
  }
  return addon;
}

/**
 * dlopen needs a real file. Bun's own loader for an embedded addon writes it to $TMPDIR under a fixed
 * name and leaves it there (one per build, forever); here each process writes its own copy in a
 * private directory and removes it as soon as it is loaded (a loaded library needs no file).
 */
function loadAddon(path: string): Addon {
  const module = { exports: {} as Addon };
  if (!path.startsWith("/$bunfs/")) {
    process.dlopen(module, path);
    return module.exports;
  }
  let dir: string;
  try {
    dir = mkdtempSync(join(addonParent(), "apt-ostree-addon-"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "does not exist" : code === "EACCES" ? "is not writable" : code === "ENOTDIR" ? "is not a directory" : code === "EROFS" ? "is read-only" : code === "ENOSPC" ? "is full" : oneLine((error as Error).message);
    throw new UserError(`cannot load the native core: ${addonDirVariable()} ${addonParent()} ${why}`, ExitCode.Failure);
  }
  try {
    const file = join(dir, "addon.node");
    writeFileSync(file, readFileSync(path), { mode: 0o700 });
    process.dlopen(module, file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return module.exports;
}

/** Where the addon's private copy goes: $BUN_TMPDIR, else $TMPDIR (os.tmpdir()). */
function addonParent(): string {
  return process.env.BUN_TMPDIR || tmpdir();
}

function addonDirVariable(): string {
  return process.env.BUN_TMPDIR ? "$BUN_TMPDIR" : "$TMPDIR";
}

/** Errors thrown by the addon are plain one-line messages; user-caused ones become UserErrors. */
export function mapNativeError(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith("cancelled")) return new UserError("interrupted", ExitCode.Interrupted);
  if (/No space left on device/i.test(message)) return new UserError(`disk full: ${oneLine(message)}`);
  if (/No such file or directory/i.test(message)) return new UserError(oneLine(message), ExitCode.NotFound);
  return new UserError(oneLine(message));
}
