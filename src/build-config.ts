// The settings of `oci build`, from a config file (validated with zod) merged with flags.
// Pure: no I/O, so it is unit-tested under Node.
import { z } from "zod";
import { respellKeys } from "./config-keys.ts";
import { isBadKey } from "./oci/image.ts";

/**
 * Values of labels, annotations and env: strings only. A number is not turned into one, as YAML
 * has already changed its text (2.10 reads as 2.1, 0755 as 755, long integers lose digits).
 */
const stringValue = z.unknown().transform((value, ctx) => {
  if (typeof value === "string") return value;
  ctx.addIssue({ code: "custom", message: notAString(value) });
  return z.NEVER;
});
/** Keys as the flags take them (isBadKey). */
const stringMap = z.record(z.string(), stringValue).superRefine((map, ctx) => {
  for (const key of Object.keys(map)) {
    if (isBadKey(key)) ctx.addIssue({ code: "custom", path: [key], message: "a key must be non-empty, without blanks or control characters" });
  }
});

function notAString(value: unknown): string {
  if (typeof value === "number" || typeof value === "bigint") return `${value} is read as a number (YAML reads 2.10 as 2.1, 0755 as 755); quote it as written`;
  if (typeof value === "boolean") return `${value} is read as a boolean; quote it: "${value}"`;
  const what = value === null ? "null (no value)" : Array.isArray(value) ? "a list" : typeof value === "object" ? "a map" : typeof value;
  return `a string is expected, not ${what}`;
}
/** cmd/entrypoint: a list, or a string read as the flag reads it (JSON array or shell words). */
const command = (flag: string) =>
  z.union([z.string(), z.array(z.string())]).transform((v, ctx) => {
    if (Array.isArray(v)) return v;
    try {
      return parseCommand(v, flag);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });

/** Docker refuses images of more than 127-128 layers; ostree-ext stops at 64 by default. */
export const MAX_LAYERS = 100;
/**
 * Package layers by default: an update of one package changes two layers (its own and the last, with
 * the dpkg database) instead of the whole image, and a registry takes the layers of a push in
 * parallel. Eight keep the layers large (the kernel alone, the rest in groups of ~50 MB for a 1 GiB
 * tree) and the split costs no measurable export time (see README, Benchmark).
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
    env: z.union([z.array(stringValue), stringMap]).optional(),
    expose: z.array(z.union([z.string(), z.number().int()]).transform(String)).optional(),
    volumes: z.array(z.string().startsWith("/", "must be an absolute path")).optional(),
    cmd: command("cmd").optional(),
    entrypoint: command("entrypoint").optional(),
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
  const result = BuildConfigSchema.safeParse(camelKeys(value, file));
  if (result.success) return result.data;
  const issue = innermost(result.error.issues[0]);
  // Worded as the compose file's errors: "unknown field 'x'", "labels.a: ...".
  if (issue.code === "unrecognized_keys") {
    const prefix = issue.path.length ? `${issue.path.join(".")}.` : "";
    throw new Error(`${file}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${prefix}${k}'`).join(", ")}`);
  }
  const field = issue.path.length ? issue.path.join(".") : "content";
  throw new Error(`${file}: ${field}: ${issue.message}`);
}

type Issue = z.core.$ZodIssue;

/**
 * Of a union's failure (env: a list or a map), the branch's issue that got furthest into the value:
 * `env.V: ...` rather than `env: Invalid input`.
 */
function innermost(issue: Issue): Issue {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return issue;
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      const found = innermost(inner);
      if (!best || found.path.length > best.path.length) best = found;
    }
  }
  return { ...best!, path: [...issue.path, ...best!.path] };
}

/**
 * Top-level keys as the flags spell them (`max-layers`, as a compose file's `repo-mode`) are the
 * schema's camelCase ones (`maxLayers`); one setting spelt both ways is an error.
 */
function camelKeys(value: unknown, file: string): unknown {
  return respellKeys(
    value,
    (key) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
    (key, other) => {
      throw new Error(`${file}: ${key}: given twice (as ${other} too)`);
    },
  );
}

/**
 * Exec-form command from a flag: a JSON array (`["/bin/sh","-c","x"]`), or words split as a shell
 * splits them (quotes and backslashes; no expansion): `/bin/sh -c "echo hi"` is three words.
 */
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
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i];
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < trimmed.length && '"\\$`'.includes(trimmed[i + 1])) word += trimmed[++i];
      else word += c;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word ??= "";
      if (c === "'" || c === '"') quote = c;
      else if (c === "\\" && i + 1 < trimmed.length) word += trimmed[++i];
      else word += c;
    }
  }
  if (quote) throw new Error(`invalid ${flag} '${text}': unterminated ${quote} quote`);
  if (word !== undefined) words.push(word);
  return words;
}
