// Reads a config file (JSON, YAML or TOML by extension; JSON without one) for --config; validation is the caller's.
import { existsSync, readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { YAMLError, parse as parseYaml } from "yaml";
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
  const format = FORMATS[ext] ?? (ext === "" ? "JSON" : undefined);
  // A .ini or .conf read as JSON would fail with a JSON message that misleads.
  if (!format) throw new UserError(`${path}: unknown config file format '${ext}' (use .json, .yaml, .yml or .toml)`, ExitCode.Usage);
  try {
    if (format === "YAML") return parseYaml(text);
    if (format === "TOML") return Bun.TOML.parse(text);
    return JSON.parse(text);
  } catch (error) {
    throw new UserError(`${path}: not valid ${format}${where(error, format, text)}: ${reason(error)}`, ExitCode.Usage);
  }
}

const FORMATS: Record<string, "JSON" | "YAML" | "TOML"> = { ".json": "JSON", ".yaml": "YAML", ".yml": "YAML", ".toml": "TOML" };

/** The parse error's message without the position and excerpt the yaml package appends (given apart). */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return oneLine(message.replace(/ at line \d+, column \d+:[\s\S]*$/, "").replace(/^(JSON|TOML) Parse error: /, ""));
}

/**
 * " at line L, column C" of a parse error. Bun's JSON and TOML errors carry no position; JSON is
 * (nearly) YAML, so for a JSON file the yaml parser is asked where it stops, and a TOML file's
 * line is found by parsing ever longer beginnings of it. Empty when unknown.
 */
function where(error: unknown, format: string, text: string): string {
  let pos = error instanceof YAMLError ? error.linePos?.[0] : undefined;
  if (!pos && format === "JSON") {
    try {
      parseYaml(text);
    } catch (yamlError) {
      if (yamlError instanceof YAMLError) pos = yamlError.linePos?.[0];
    }
  }
  if (pos) return ` at line ${pos.line}, column ${pos.col}`;
  if (format === "TOML") {
    const line = tomlErrorLine(text);
    if (line !== undefined) return ` from line ${line}`;
  }
  return "";
}

/**
 * Where a TOML text stops parsing: the line after its longest leading run of whole lines that
 * parses (TOML is read line by line, so a mistake cannot be undone later; a value over several
 * lines is blamed from its first). Undefined when no runtime TOML parser is there.
 */
function tomlErrorLine(text: string): number | undefined {
  const parse = (globalThis as { Bun?: { TOML?: { parse(text: string): unknown } } }).Bun?.TOML?.parse;
  if (!parse) return undefined;
  const lines = text.split("\n");
  let good = 0;
  for (let k = 1; k < lines.length; k++) {
    try {
      parse(lines.slice(0, k).join("\n"));
      good = k;
    } catch {
      // inside a value over several lines, or the mistake: go on
    }
  }
  return good + 1;
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
