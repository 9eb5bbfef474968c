// The real consumers, from Debian's packages, as judges of what we write.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function sh(cmd: string, args: string[], options: { cwd?: string } = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 28, cwd: options.cwd });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r.stdout;
}

/** `skopeo inspect` of a transport reference (oci:, oci-archive:, docker-archive:, docker://). */
export function skopeoInspect(ref: string, raw = false): any {
  const out = sh("skopeo", ["inspect", ...(raw ? ["--raw"] : []), "--tls-verify=false", ref]);
  return JSON.parse(out);
}

export function skopeoConfig(ref: string): any {
  return JSON.parse(sh("skopeo", ["inspect", "--config", "--tls-verify=false", ref]));
}

/**
 * oci-image-tool's validation of a layout directory or an oci-archive. Its own tar walker fails on
 * every archive (skopeo's too: "unable to walk: end of walk"), so an archive is validated unpacked.
 */
export function ociImageToolValidate(path: string, tag = "latest"): string {
  if (statSync(path).isFile()) {
    const dir = mkdtempSync(join(tmpdir(), "oci-archive-"));
    try {
      sh("tar", ["-xf", path, "-C", dir]);
      return sh("oci-image-tool", ["validate", "--type", "image", "--ref", `name=${tag}`, dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return sh("oci-image-tool", ["validate", "--type", "image", "--ref", `name=${tag}`, path]);
}

/** umoci unpack into `bundle` (its rootfs is bundle/rootfs). */
export function umociUnpack(layout: string, tag: string, bundle: string): string {
  return sh("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
}

export function sha256sum(path: string): string {
  return "sha256:" + execFileSync("sha256sum", [path]).toString().split(" ")[0];
}
