// Reads a config file (JSON, YAML or TOML by extension) for --config; validation is the caller's.
import { existsSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { ExitCode, UserError, oneLine } from "../errors.ts";

export function readConfigFile(path: string): unknown {
  if (!existsSync(path)) throw new UserError(`config file not found: ${path}`, ExitCode.NotFound);
  const text = readFileSync(path, "utf8");
  const ext = extname(path).toLowerCase();
  try {
    if (ext === ".yaml" || ext === ".yml") return Bun.YAML.parse(text);
    if (ext === ".toml") return Bun.TOML.parse(text);
    return JSON.parse(text);
  } catch (error) {
    throw new UserError(`${path}: not valid ${ext === ".toml" ? "TOML" : ext.startsWith(".y") ? "YAML" : "JSON"}: ${oneLine(error instanceof Error ? error.message : String(error))}`, ExitCode.Usage);
  }
}
