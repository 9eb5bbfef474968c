import { defineConfig } from "vitest/config";

// The release proof (arm64 VM, Debian 11/13 chroots, both targets' artifacts) is slow and needs
// `npm run build -- --target all`: it runs under `npm run test:release`, not in the default suite.
const releaseOnly = ["test/release-artifacts.test.ts", "test/release-chroot.test.ts", "test/release-arm64.test.ts", "test/release-source.test.ts"];

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    exclude: process.env.APT_OSTREE_RELEASE_TESTS === "1" ? [] : releaseOnly,
    // The native addon and the real tools (ostree, registry, umoci) want separate processes.
    pool: "forks",
    // Two cores: end-to-end files share them; keep them in sequence so timings stay sane.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
