// Small filesystem helpers shared by compose, the layer planner and the OSTree side.
import { lstatSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";

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

/** One entry of a tree, as `treeEntry` functions give it: its type, and a symlink's target. */
export interface TreeEntry {
  type: "dir" | "link" | "other";
  target?: string;
}

/**
 * Follows `path` through symlinks inside a tree, as a process with the tree as its root would
 * (an absolute target is the tree's, not the host's); `entry` reads one path of the tree. Whether
 * it ends at an entry that is not a directory: false if anything on the way is missing, a link
 * dangles or loops.
 */
export async function resolvesToFileInTree(path: string, entry: (path: string) => Promise<TreeEntry | undefined>): Promise<boolean> {
  let rest = path.split("/").filter(Boolean);
  let resolved: string[] = [];
  for (let links = 0; rest.length > 0; ) {
    const name = rest.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      resolved.pop();
      continue;
    }
    const found = await entry(`/${[...resolved, name].join("/")}`);
    if (!found) return false;
    if (found.type === "link") {
      // As the kernel's limit of 40 links in one lookup.
      if (++links > 40) return false;
      if (found.target!.startsWith("/")) resolved = [];
      rest = [...found.target!.split("/").filter(Boolean), ...rest];
      continue;
    }
    if (rest.length > 0 && found.type !== "dir") return false;
    if (rest.length === 0) return found.type !== "dir";
    resolved.push(name);
  }
  return false;
}

/** `entry` for `resolvesToFileInTree` of a directory on disk. */
export function directoryEntry(root: string): (path: string) => Promise<TreeEntry | undefined> {
  return async (path) => {
    // Every component before the last has been resolved to a directory: the host follows no link.
    const full = join(root, path);
    const stat = lstatOrUndefined(full);
    if (!stat) return undefined;
    if (stat.isSymbolicLink()) return { type: "link", target: readlinkSync(full, "utf8") };
    return { type: stat.isDirectory() ? "dir" : "other" };
  };
}
