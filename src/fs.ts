// Small filesystem helpers shared by compose, the layer planner and the OSTree side.
import { lstatSync, type Stats } from "node:fs";

/** lstat, or undefined when the path cannot be stat'ed (missing, or a parent is not a directory). */
export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The output a path inside a temporary sibling stands for (`DIR/.NAME.WHAT-PID-TIME/...` is
 * `DIR/NAME`), for messages: the user named NAME and never sees the temporary one.
 */
export function outputPathFor(path: string): string {
  const parts = path.split("/");
  const i = parts.findIndex((p) => /^\..+\.[a-z-]+-\d+-[0-9a-z]+$/.test(p));
  if (i < 0) return path;
  return [...parts.slice(0, i), parts[i]!.replace(/^\.(.+)\.[a-z-]+-\d+-[0-9a-z]+$/, "$1")].join("/");
}
