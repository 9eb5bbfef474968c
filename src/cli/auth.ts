// Top-level `apt-ostree login|logout`: credentials in the containers auth file, as podman and
// skopeo write it. The password comes on stdin, or from the terminal when asked for (never argv).
import { ExitCode } from "../errors.ts";
import type { CommandGroup } from "./main.ts";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Asks for the password on the terminal, as podman login does: not echoed, up to Enter; Ctrl-D
 * gives up (an empty answer), Ctrl-C exits 130. Only called when stdin and stderr are terminals.
 */
function promptPassword(): Promise<string> {
  return new Promise((resolve) => {
    const stdin = process.stdin;
    // Echo off before the prompt shows: what is typed as soon as it appears is not echoed either.
    stdin.setRawMode(true);
    stdin.resume();
    process.stderr.write("Password: ");
    let typed = "";
    const done = (answer: string) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") return done(typed);
        // Ctrl-C: raw mode sends it as a character, not SIGINT; end as an interrupt would.
        if (ch === "\u0003") {
          done("");
          process.stderr.write("apt-ostree: interrupted\n");
          process.exit(ExitCode.Interrupted);
        }
        if (ch === "\u0004") return done("");
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.on("data", onData);
  });
}

export const authGroup: CommandGroup = {
  name: "",
  summary: "log in to / out of a registry (containers auth.json)",
  register(cli, ctx) {
    cli
      .command("login [registry]", "Check credentials against a registry and store them in the containers auth file")
      .option("-u, --username <name>", "user name")
      .option("--password-stdin", "read the password (or token) from stdin (on a terminal without it: asked for, not echoed)")
      .option("--authfile <path>", "auth file to write (default: $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json)")
      .option("--cert-dir <dir>", "directory with CA certificates (*.crt) and a client certificate")
      .option("--tls-verify [bool]", "verify TLS certificates; false also allows plain http (default: true)")
      .example("echo \"$TOKEN\" | apt-ostree login ghcr.io -u me --password-stdin")
      .action(async (registry: string | undefined, flags) => {
        const prompt = process.stdin.isTTY && process.stderr.isTTY ? promptPassword : undefined;
        return (await import("../registry/commands.ts")).login(ctx, registry, flags, readStdin, prompt);
      });
    cli
      .command("logout [registry]", "Remove a registry's credentials from the containers auth file")
      .option("--authfile <path>", "auth file to edit")
      .option("--all", "remove every registry's credentials")
      .action(async (registry: string | undefined, flags) => (await import("../registry/commands.ts")).logout(ctx, registry, flags));
  },
};
