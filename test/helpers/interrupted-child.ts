// Runs `sleep 30` through check() with the interrupt handlers installed, as a command running a
// tool does. For test/exec.test.ts, which signals the sleep and this process.
import { check } from "../../src/exec.ts";
import { onInterrupt } from "../../src/cleanup.ts";

onInterrupt(() => undefined);
try {
  await check("sleep", ["30"]);
} catch (error) {
  process.stderr.write(`apt-ostree: ${(error as Error).message}\n`);
  process.exit(1);
}
