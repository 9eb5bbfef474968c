import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The native addon and the real tools (ostree, registry, umoci) want separate processes.
    pool: "forks",
    // Two cores: end-to-end files share them; keep them in sequence so timings stay sane.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
