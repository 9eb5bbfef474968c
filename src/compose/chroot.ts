// Running a program inside a root filesystem: a private mount namespace (unshare) gets /dev,
// /proc, /sys, /run and /tmp mounted, then chroot. The mounts live and die with that namespace,
// so nothing stays mounted on the host even when we are killed.
import { chmodSync, copyFileSync, existsSync, lstatSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runStreaming, type StreamResult } from "./process.ts";

/** What apt reads for a proxy, passed into the chroot. */
const PROXY_VARIABLES = ["http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];

const SETUP = [
  'root="$1"; shift',
  'mount --rbind /dev "$root/dev"',
  'mount -t proc proc "$root/proc"',
  'mount --rbind /sys "$root/sys"',
  'mount -t tmpfs -o mode=0755 tmpfs "$root/run"',
  'mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"',
  'exec chroot "$root" "$@"',
].join("\n");

export function runInRoot(root: string, command: string[], onLine?: (line: string) => void): Promise<StreamResult> {
  return runStreaming(
    "/usr/bin/unshare",
    ["--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-ec", SETUP, "sh", root, ...command],
    {
      replaceEnv: true,
      env: {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        DEBIAN_FRONTEND: "noninteractive",
        DEBCONF_NONINTERACTIVE_SEEN: "true",
        LC_ALL: "C.UTF-8",
        HOME: "/root",
        ...(process.env.SOURCE_DATE_EPOCH ? { SOURCE_DATE_EPOCH: process.env.SOURCE_DATE_EPOCH } : {}),
        // apt reads these (its own Acquire::*::Proxy settings come from the tree's apt.conf.d).
        ...Object.fromEntries(PROXY_VARIABLES.filter((name) => process.env[name]).map((name) => [name, process.env[name]!])),
      },
      onLine,
    },
  );
}

/**
 * Prepares a tree for apt: the host's resolv.conf and a policy-rc.d that keeps services from
 * starting. Returns the function that puts things back as they were.
 */
export function prepareForApt(root: string): () => void {
  const resolv = join(root, "etc/resolv.conf");
  const saved = join(root, "etc/resolv.conf.apt-ostree");
  let hadResolv = false;
  try {
    lstatSync(resolv);
    hadResolv = true;
    renameSync(resolv, saved);
  } catch {
    // none
  }
  if (existsSync("/etc/resolv.conf")) copyFileSync("/etc/resolv.conf", resolv);
  const policy = join(root, "usr/sbin/policy-rc.d");
  const hadPolicy = existsSync(policy);
  if (!hadPolicy) {
    writeFileSync(policy, "#!/bin/sh\nexit 101\n");
    chmodSync(policy, 0o755);
  }
  return () => {
    rmSync(resolv, { force: true });
    if (hadResolv) renameSync(saved, resolv);
    if (!hadPolicy) rmSync(policy, { force: true });
  };
}

