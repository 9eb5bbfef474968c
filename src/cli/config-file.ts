// Reads a config file (JSON, YAML or TOML by extension) for --config; validation is the caller's.
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { ExitCode, SYSTEM_ERRORS, UserError, oneLine } from "../errors.ts";

export function readConfigFile(path: string): unknown {
  if (!existsSync(path)) throw new UserError(`config file not found: ${path}`, ExitCode.NotFound);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    throw new UserError(`cannot read config file ${path}: ${SYSTEM_ERRORS[code] ?? oneLine((error as Error).message)}`, ExitCode.Failure);
  }
  const ext = extname(path).toLowerCase();
  try {
    if (ext === ".yaml" || ext === ".yml") return Bun.YAML.parse(text);
    if (ext === ".toml") return Bun.TOML.parse(text);
    return JSON.parse(text);
  } catch (error) {
    throw new UserError(`${path}: not valid ${ext === ".toml" ? "TOML" : ext.startsWith(".y") ? "YAML" : "JSON"}: ${oneLine(error instanceof Error ? error.message : String(error))}`, ExitCode.Usage);
  }
}

/**
 * A path from a config file, relative to the file's directory (as compose files and treefiles
 * read theirs), so that a config works from any working directory. Absolute paths stay as they are.
 */
export function pathFromConfig(configPath: string, value: string): string {
  return resolve(dirname(configPath), value);
}

/**
 * An output from a config file: `oci:PATH:TAG` and the other transports keep their prefix; what is
 * no local output (`docker://...`, a transport without a path) stays as written, for the error
 * the same text given as a flag gets.
 */
export function targetFromConfig(configPath: string, value: string): string {
  if (/^docker:\/\//.test(value)) return value;
  const m = value.match(/^(oci|oci-archive|docker-archive):(.*)$/);
  if (m && !m[2]) return value;
  return m ? `${m[1]}:${pathFromConfig(configPath, m[2]!)}` : pathFromConfig(configPath, value);
}
