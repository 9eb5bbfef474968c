// The settings of `oci build`, from a config file (validated with zod) merged with flags.
// Pure: no I/O, so it is unit-tested under Node.
import { z } from "zod";

const stringMap = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));
const stringList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

/** Docker refuses images of more than 127-128 layers; ostree-ext stops at 64 by default. */
export const MAX_LAYERS = 100;
/**
 * Package layers by default: an update of one package changes one layer, and a registry takes the
 * layers of a push in parallel. Eight keep the layers large (the kernel alone, the rest in groups of
 * ~50 MB for a 1 GiB tree) and the split costs no measurable export time (see README, Benchmark).
 */
export const DEFAULT_MAX_LAYERS = 8;

export const BuildConfigSchema = z
  .object({
    source: z.string().min(1).optional(),
    repo: z.string().min(1).optional(),
    rootfs: z.string().min(1).optional(),
    output: z.string().min(1).optional(),
    format: z.enum(["oci", "oci-archive", "docker", "docker-archive"]).optional(),
    tag: z.string().min(1).optional(),
    compression: z.enum(["gzip", "zstd", "none"]).optional(),
    level: z.number().int().min(-7).max(19).optional(),
    zstdFrames: z.enum(["many", "one"]).optional(),
    threads: z.number().int().min(1).max(256).optional(),
    maxLayers: z.number().int().min(1).max(MAX_LAYERS).optional(),
    labels: stringMap.optional(),
    annotations: stringMap.optional(),
    env: z.union([z.array(z.string()), stringMap]).optional(),
    expose: z.array(z.union([z.string(), z.number().int()]).transform(String)).optional(),
    volumes: z.array(z.string().startsWith("/", "must be an absolute path")).optional(),
    cmd: stringList.optional(),
    entrypoint: stringList.optional(),
    user: z.string().optional(),
    workdir: z.string().startsWith("/", "must be an absolute path").optional(),
    arch: z.string().min(1).optional(),
    os: z.string().min(1).optional(),
    created: z.string().min(1).optional(),
    author: z.string().optional(),
    bootc: z.boolean().optional(),
    stopSignal: z.string().optional(),
  })
  .strict();

export type BuildConfig = z.infer<typeof BuildConfigSchema>;

/** Validates a parsed config file; the error names the field: `labels.foo: expected string`. */
export function parseBuildConfig(value: unknown, file: string): BuildConfig {
  const result = BuildConfigSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.length ? issue.path.join(".") : "(top level)";
  const message = issue.code === "unrecognized_keys" ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}` : issue.message;
  throw new Error(`${file}: ${field}: ${message}`);
}

/** Exec-form command from a flag: a JSON array (`["/bin/sh","-c","x"]`) or words split on spaces. */
export function parseCommand(text: string, flag: string): string[] {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new Error(`invalid ${flag} '${text}': not a JSON array`);
    }
    if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) throw new Error(`invalid ${flag} '${text}': expected an array of strings`);
    return parsed;
  }
  return trimmed ? trimmed.split(/\s+/) : [];
}
