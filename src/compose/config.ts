// The compose file (`--config FILE`, read by src/cli/config-file.ts): validated with
// zod; the first problem is reported as one line naming the field. Pure: runs under Node.
import { z } from "zod";
import { respellKeys } from "../config-keys.ts";
import { ExitCode, UserError } from "../errors.ts";
import { DEBIAN_ARCHITECTURES, isDebianArch } from "../arch.ts";
import { VARIANTS, knownReleaseNames } from "./releases.ts";

const metadataValue = z.union([z.string(), z.boolean(), z.number(), z.array(z.string())]);

/**
 * What apt takes as a package to install: a name (lowercase) with an optional :arch, then =version
 * or /suite, then + or - (install or remove); or a path to a .deb file.
 */
export const PACKAGE_NAME = /^(?:[a-z0-9][a-z0-9+.-]*(?::[a-z0-9]+)?(?:=[^\s/]+|\/[A-Za-z0-9][A-Za-z0-9.-]*)?[+-]?|\.{0,2}\/\S+\.deb)$/;
export const PACKAGE_NAME_RULE = "not a Debian package (a lowercase name, name:arch, name=version, name/suite) or a path to a .deb";
/** Commit metadata keys, as ostree's tools print them without quoting. */
export const METADATA_KEY = /^[A-Za-z0-9._-]+$/;

const packageName = z.string().regex(PACKAGE_NAME, PACKAGE_NAME_RULE);

export const composeFileSchema = z
  .object({
    release: z.string().refine((r) => knownReleaseNames().includes(r), {
      message: `unknown release; known releases: ${knownReleaseNames().join(", ")}`,
    }),
    arch: z.string().refine(isDebianArch, { message: `unknown architecture; known: ${DEBIAN_ARCHITECTURES.join(", ")}` }),
    variant: z.enum(VARIANTS),
    packages: z.array(packageName),
    mirror: z.string().url(),
    "security-mirror": z.string().url(),
    updates: z.boolean(),
    components: z.array(z.string().regex(/^[a-z0-9-]+$/, "not a component name")).min(1),
    keyring: z.string().min(1),
    repo: z.string().min(1),
    "repo-mode": z.enum(["bare", "archive"]),
    ref: z.string().regex(/^[A-Za-z0-9._/-]+$/, "not a valid ref name"),
    version: z.string().min(1),
    metadata: z.record(z.string().regex(METADATA_KEY, "not a valid metadata key"), metadataValue),
  })
  .partial()
  .strict();

export type ComposeFile = z.infer<typeof composeFileSchema>;

function fieldName(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/**
 * Top-level keys in camelCase (`repoMode`, as an oci build file's `maxLayers`) are the schema's
 * kebab-case ones (`repo-mode`); one setting spelt both ways is an error. Metadata keys stay as written.
 */
function kebabKeys(content: unknown, source: string): unknown {
  return respellKeys(
    content,
    (key) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
    (key, other) => {
      throw new UserError(`${source}: field '${key}' given twice (as '${other}' too)`, ExitCode.Usage);
    },
  );
}

/** Validates parsed compose-file content; throws a one-line usage error naming the bad field. */
export function parseComposeFile(content: unknown, source = "compose file"): ComposeFile {
  const result = composeFileSchema.safeParse(kebabKeys(content, source));
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as { keys: string[] }).keys;
    const where = fieldName(issue.path);
    throw new UserError(`${source}: unknown field '${where ? where + "." : ""}${keys[0]}'`, ExitCode.Usage);
  }
  const where = fieldName(issue.path);
  throw new UserError(`${source}: ${where ? `field '${where}'` : "content"}: ${issue.message}`, ExitCode.Usage);
}

