// `apt-ostree oci index DEST SOURCE...`: one multi-platform image of local images (src/oci/combine.ts).
import type { CAC } from "cac";
import { ExitCode, usageError } from "../errors.ts";
import { parseKeyValue } from "../oci/image.ts";
import { parseLocalTarget } from "../oci/local.ts";
import { toList, type CliContext } from "./context.ts";

interface IndexFlags {
  annotation?: string | string[];
  force?: boolean;
  json?: boolean;
}

export function registerIndex(cli: CAC, ctx: CliContext): void {
  cli
    .command("index <dest> <...sources>", "Make one multi-platform image (an image index) of local images, one per platform")
    .option("--annotation <key=value>", "index annotation (repeatable)")
    .option("--force", "replace an existing output (oci:PATH:TAG adds to an existing layout without it)")
    .option("--json", "print the result as JSON")
    .example("apt-ostree oci build --rootfs ./amd64 --arch amd64 --output oci:/tmp/os:amd64")
    .example("apt-ostree oci build --rootfs ./arm64 --arch arm64 --output oci:/tmp/os:arm64")
    .example("apt-ostree oci index oci:/tmp/os:latest oci:/tmp/os:amd64 oci:/tmp/os:arm64")
    .example("apt-ostree oci push oci:/tmp/os:latest docker://registry.example/os:latest")
    .action(async (dest: string, sources: string[], flags: IndexFlags) => {
      let annotations: Record<string, string>;
      try {
        annotations = Object.fromEntries(toList(flags.annotation).map((a) => parseKeyValue(a, "annotation")));
      } catch (error) {
        throw usageError((error as Error).message);
      }
      const target = parseLocalTarget(dest);
      target.tag ??= target.format === "docker-archive" ? undefined : "latest";
      const { combineImages } = await import("../oci/combine.ts");
      const result = await combineImages(sources.map((name) => ({ name, target: parseLocalTarget(name) })), target, { force: Boolean(flags.force), annotations, warn: (m) => ctx.warn(`warning: ${m}`) });
      if (flags.json) ctx.out(JSON.stringify({ ...result, output: target.path, tag: target.tag }, null, 2));
      else ctx.out(result.digest);
      return ExitCode.Ok;
    });
}
