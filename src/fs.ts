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
