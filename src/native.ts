// The one module that loads the native addon. The literal path lets `bun build --compile` embed the
// addon; scripts/build.sh stages the right architecture's build at native/dist/addon.node first.
// Loaded lazily: commands that need no native code (push, pull, compose) never extract it.
import { ExitCode, UserError, oneLine } from "./errors.ts";

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
      addon = require("../native/dist/addon.node") as Addon;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new UserError(
        `cannot load the native core: ${oneLine(message)}` +
          (/noexec|EACCES|permission/i.test(message) ? " (is $TMPDIR mounted noexec? set BUN_TMPDIR to an exec-able directory)" : ""),
        ExitCode.Failure,
      );
    }
  }
  return addon;
}

/** Errors thrown by the addon are plain one-line messages; user-caused ones become UserErrors. */
export function mapNativeError(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith("cancelled")) return new UserError("interrupted", ExitCode.Interrupted);
  if (/No space left on device/i.test(message)) return new UserError(`disk full: ${oneLine(message)}`);
  if (/No such file or directory/i.test(message)) return new UserError(oneLine(message), ExitCode.NotFound);
  return new UserError(oneLine(message));
}
