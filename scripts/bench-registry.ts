#!/usr/bin/env bun
// Registry benchmark: push and pull of an OCI layout to a local docker-registry, side by side with
// `skopeo copy`, each tool against its own fresh registry (so neither finds the other's blobs).
//
//   bun scripts/bench-registry.ts OCI_LAYOUT[:TAG] [--bin "CMD"] [--jobs N] [--runs N] [--header]
//
// Prints one tab-separated row (and a header with --header):
//   image_MiB skopeo_push_s ours_push_s push_ratio skopeo_pull_s ours_pull_s pull_ratio
//   ours_push_rss_MiB ours_pull_rss_MiB skopeo_push_rss_MiB skopeo_pull_rss_MiB
// Each run uses fresh registries; with --runs N the best time of each column is kept (the machine is
// shared: the minimum is the least disturbed figure) and the highest RSS.
// The binary is dist/apt-ostree-linux-x64 unless --bin or $APT_OSTREE_BIN says otherwise. Targets
// (issue): push ≤ 0.7× skopeo, pull ≤ 1.0× skopeo (every digest verified), peak RSS ≤ 150 MiB.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startRegistry } from "../test/helpers/registry.ts";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const header = args.includes("--header");
if (header) args.splice(args.indexOf("--header"), 1);
const bin = (flag("--bin") ?? process.env.APT_OSTREE_BIN ?? resolve(import.meta.dir, "../dist/apt-ostree-linux-x64")).split(/\s+/);
const jobs = flag("--jobs") ?? "4";
const runs = Math.max(1, Number(flag("--runs") ?? 1));
const source = args[0];
if (!source) {
  console.error("usage: bun scripts/bench-registry.ts OCI_LAYOUT[:TAG] [--bin CMD] [--jobs N] [--header]");
  process.exit(2);
}
const colon = source.lastIndexOf(":");
const [layout, tag] = colon > 0 && !source.slice(colon + 1).includes("/") ? [source.slice(0, colon), source.slice(colon + 1)] : [source, undefined];
const ociRef = `oci:${layout}${tag ? `:${tag}` : ""}`;

function dirSize(dir: string): number {
  let n = 0;
  for (const name of readdirSync(join(dir, "blobs/sha256"))) n += statSync(join(dir, "blobs/sha256", name)).size;
  return n;
}

async function timed(cmd: string[]): Promise<{ seconds: number; rssMiB: number; stdout: string }> {
  const started = performance.now();
  const child = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  const code = await child.exited;
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}): ${stderr}`);
  const usage = child.resourceUsage();
  // maxRSS is in bytes on Bun.
  const rssMiB = (usage?.maxRSS ?? 0) / 1024 / 1024;
  return { seconds, rssMiB, stdout };
}

const work = mkdtempSync(join(process.env.APT_OSTREE_TEST_TMP ?? tmpdir(), "bench-registry-"));
const best = { sPush: Infinity, oPush: Infinity, sPull: Infinity, oPull: Infinity, oPushRss: 0, oPullRss: 0, sPushRss: 0, sPullRss: 0, floor: Infinity };

/** The largest blob of the layout: its upload is one sequential stream whatever the client does. */
function largestBlob(dir: string): { path: string; digest: string } {
  const names = readdirSync(join(dir, "blobs/sha256"));
  const name = names.reduce((a, b) => (statSync(join(dir, "blobs/sha256", a)).size >= statSync(join(dir, "blobs/sha256", b)).size ? a : b));
  return { path: join(dir, "blobs/sha256", name), digest: `sha256:${name}` };
}

/** The floor for any client: one monolithic PUT of the largest blob with curl to a fresh registry. */
async function curlBlobPut(host: string, blob: { path: string; digest: string }): Promise<number> {
  const post = await fetch(`http://${host}/v2/floor/blobs/uploads/`, { method: "POST" });
  const location = new URL(post.headers.get("location")!, `http://${host}`);
  location.searchParams.set("digest", blob.digest);
  return (await timed(["curl", "-sf", "-T", blob.path, "-H", "Content-Type: application/octet-stream", location.toString()])).seconds;
}
try {
  for (let run = 0; run < runs; run++) {
    const theirs = await startRegistry();
    const ours = await startRegistry();
    const floor = await startRegistry();
    try {
      best.floor = Math.min(best.floor, await curlBlobPut(floor.host, largestBlob(layout)));
      rmSync(join(work, "skopeo-pull"), { recursive: true, force: true });
      rmSync(join(work, "ours-pull"), { recursive: true, force: true });
      const sPush = await timed(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", ociRef, `docker://${theirs.host}/bench:1`]);
      const oPush = await timed([...bin, "oci", "push", ociRef, `docker://${ours.host}/bench:1`, "--jobs", jobs]);
      const sPull = await timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", `docker://${theirs.host}/bench:1`, `oci:${join(work, "skopeo-pull")}:x`]);
      const oPull = await timed([...bin, "oci", "pull", `docker://${ours.host}/bench:1`, `oci:${join(work, "ours-pull")}:x`, "--jobs", jobs]);
      // Same image on both sides: our pull's manifest is what we pushed (every blob was verified on the way).
      const pulled = JSON.parse(readFileSync(join(work, "ours-pull/index.json"), "utf8")).manifests[0].digest;
      if (pulled !== oPush.stdout.trim()) throw new Error(`digest mismatch: pushed ${oPush.stdout.trim()}, pulled ${pulled}`);
      best.sPush = Math.min(best.sPush, sPush.seconds);
      best.oPush = Math.min(best.oPush, oPush.seconds);
      best.sPull = Math.min(best.sPull, sPull.seconds);
      best.oPull = Math.min(best.oPull, oPull.seconds);
      best.oPushRss = Math.max(best.oPushRss, oPush.rssMiB);
      best.oPullRss = Math.max(best.oPullRss, oPull.rssMiB);
      best.sPushRss = Math.max(best.sPushRss, sPush.rssMiB);
      best.sPullRss = Math.max(best.sPullRss, sPull.rssMiB);
    } finally {
      await theirs.stop();
      await ours.stop();
      await floor.stop();
    }
  }
  const size = dirSize(layout) / 1024 / 1024;
  const f = (n: number, d = 2) => n.toFixed(d);
  if (header) {
    console.log(["image_MiB", "skopeo_push_s", "ours_push_s", "push_ratio", "skopeo_pull_s", "ours_pull_s", "pull_ratio", "ours_push_rss_MiB", "ours_pull_rss_MiB", "skopeo_push_rss_MiB", "skopeo_pull_rss_MiB", "curl_blob_put_s"].join("\t"));
  }
  console.log([f(size, 0), f(best.sPush), f(best.oPush), f(best.oPush / best.sPush), f(best.sPull), f(best.oPull), f(best.oPull / best.sPull), f(best.oPushRss, 0), f(best.oPullRss, 0), f(best.sPushRss, 0), f(best.sPullRss, 0), f(best.floor)].join("\t"));
} finally {
  rmSync(work, { recursive: true, force: true });
}
