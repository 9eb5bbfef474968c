// The amd64 binary on other Debian releases (npm run test:release): in clean minbase chroots made with
// mmdebstrap, the bare binary exports the test tree on Debian 11 (glibc 2.31, the floor) and Debian 13
// with the same digests as on the host, for every compression and 1 and 2 threads; the .deb installs
// with `apt install ./file.deb` on Debian 12 and Debian 11 (pulling its Recommends) and the installed
// command works.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  binX64,
  debAmd64,
  debianChroot,
  exportArgs,
  inChroot,
  matrix,
  parseExport,
  releaseTests,
  sh,
  versionLine,
  SOURCE_DATE_EPOCH,
  version,
  writeTestTree,
} from "./release-helpers";

const shellQuote = (args: string[]) => args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");

describe.skipIf(!releaseTests)("release: amd64 binary in Debian chroots", () => {
  let work: string;
  const host = new Map<string, string>();

  beforeAll(() => {
    work = mkdtempSync(join(process.env.APT_OSTREE_TEST_TMP ?? "/var/tmp", "apt-ostree-release-"));
    writeTestTree(join(work, "tree"));
    for (const [compression, threads] of matrix) {
      const out = join(work, `host-${compression}-${threads || "default"}`);
      const stdout = execFileSync(binX64, exportArgs(join(work, "tree"), out, compression, threads), {
        encoding: "utf8",
        env: { ...process.env, SOURCE_DATE_EPOCH },
      });
      host.set(`${compression}/${threads}`, parseExport(stdout).digest);
    }
  }, 600_000);

  afterAll(() => {
    if (!work) return;
    // Unmount anything a failed test left behind, then stay on this file system while removing.
    sh("sh", ["-c", `grep -o " ${work}/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l; rm -rf --one-file-system "${work}"`]);
  });

  it("the host's exports do not depend on the thread count", () => {
    expect(host.get("gzip/1")).toBe(host.get("gzip/2"));
    expect(host.get("gzip/1")).toBe(host.get("gzip/"));
    expect(host.get("zstd/1")).toBe(host.get("zstd/2"));
    expect(new Set(host.values()).size).toBe(3); // gzip, zstd, none differ from each other
  });

  for (const suite of ["bullseye", "trixie"]) {
    it(`exports the same digests in a Debian ${suite === "bullseye" ? 11 : 13} (${suite}) chroot`, () => {
      const root = debianChroot(suite, work);
      copyFileSync(binX64, join(root, "apt-ostree"));
      sh("chmod", ["0755", join(root, "apt-ostree")]);
      sh("cp", ["-a", join(work, "tree"), join(root, "tree")]);
      mkdirSync(join(root, "out"));
      const lines = [
        "set -e",
        "/apt-ostree --version",
        ...matrix.map(([c, t]) => `printf '@@ %s %s ' ${c} '${t}'; /apt-ostree ${shellQuote(exportArgs("/tree", `/out/${c}-${t || "default"}`, c, t))} | tr -d '\\n'; echo`),
      ];
      const r = inChroot(root, lines.join("\n"));
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain(versionLine("linux-x64"));
      const glibc = inChroot(root, "ldd --version | head -n 1").stdout;
      if (suite === "bullseye") expect(glibc).toMatch(/2\.31/);
      for (const line of r.stdout.split("\n").filter((l) => l.startsWith("@@ "))) {
        const [, compression, threadsOrJson, ...rest] = line.split(" ");
        const threads = threadsOrJson.startsWith("{") ? "" : threadsOrJson;
        const json = threads ? rest.join(" ") : [threadsOrJson, ...rest].join(" ");
        expect(parseExport(json).digest, `${suite} ${compression} threads=${threads || "default"}`).toBe(host.get(`${compression}/${threads}`));
      }
      expect(r.stdout.split("\n").filter((l) => l.startsWith("@@ ")).length).toBe(matrix.length);
    }, 900_000);
  }

  for (const suite of ["bookworm", "bullseye"]) {
    it(`the .deb installs with apt in a clean Debian ${suite === "bookworm" ? 12 : 11} chroot and works there`, () => {
      const root = debianChroot(suite, join(work, "deb"));
      copyFileSync(debAmd64, join(root, "tmp-apt-ostree.deb"));
      sh("cp", ["-a", join(work, "tree"), join(root, "tree")]);
      const r = inChroot(
        root,
        [
          "set -e",
          "apt-get update -qq",
          // With Recommends, as `apt install` does by default: ostree and mmdebstrap must resolve.
          "apt-get install -y -qq /tmp-apt-ostree.deb >/dev/null",
          "dpkg-query -W -f='${Status} ${Version}\\n' apt-ostree ostree mmdebstrap",
          "command -v apt-ostree",
          "apt-ostree --version",
          "test -s /usr/share/man/man1/apt-ostree.1.gz",
          "test -s /usr/share/bash-completion/completions/apt-ostree",
          "test -s /usr/share/zsh/vendor-completions/_apt-ostree",
          `printf '@@ '; apt-ostree ${shellQuote(exportArgs("/tree", "/out", "gzip", "2"))} | tr -d '\\n'; echo`,
        ].join("\n"),
      );
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout.split("\n").filter((l) => l.startsWith("install ok installed ")).length).toBe(3);
      expect(r.stdout).toMatch(new RegExp(`^install ok installed ${version.replace(/\./g, "\\.")}$`, "m"));
      expect(r.stdout).toContain("/usr/bin/apt-ostree");
      expect(r.stdout).toContain(versionLine("linux-x64"));
      const line = r.stdout.split("\n").find((l) => l.startsWith("@@ "))!;
      expect(parseExport(line.slice(3)).digest).toBe(host.get("gzip/2"));
    }, 900_000);
  }
});
