// Reading and writing tmpfiles.d(5) lines: the commit's /var is empty, these lines say what a
// deployed system recreates there. Pure: runs under Node.

export interface TmpfilesLine {
  type: string;
  /** Absolute path, unescaped. */
  path: string;
  mode?: string;
  user?: string;
  group?: string;
  age?: string;
  argument?: string;
}

/** tmpfiles.d fields are whitespace separated; `%` starts a specifier and `\` an escape. */
export function escapeField(value: string): string {
  let out = "";
  for (const ch of value) {
    if (ch === "%") out += "%%";
    else if (ch === "\\") out += "\\\\";
    else if (/^[\x21-\x7e]$/.test(ch) || ch.codePointAt(0)! > 0x7f) out += ch;
    else out += [...Buffer.from(ch, "utf8")].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("");
  }
  return out;
}

export function unescapeField(value: string): string {
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && value[i + 1] === "x" && /^[0-9a-fA-F]{2}$/.test(value.slice(i + 2, i + 4))) {
      out += String.fromCharCode(parseInt(value.slice(i + 2, i + 4), 16));
      i += 3;
    } else if (c === "\\" && i + 1 < value.length) {
      out += value[++i];
    } else if (c === "%" && value[i + 1] === "%") {
      out += "%";
      i++;
    } else out += c;
  }
  return out;
}

export function formatLine(line: TmpfilesLine): string {
  const field = (v: string | undefined) => (v === undefined || v === "" ? "-" : v);
  const parts = [line.type, escapeField(line.path), field(line.mode), field(line.user), field(line.group), field(line.age)];
  if (line.argument !== undefined) parts.push(escapeField(line.argument));
  return parts.join(" ");
}

/** Splits a line into fields, honouring double quotes; the argument keeps its inner spaces. */
function splitFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  while (i < text.length && fields.length < 6) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    let field = "";
    if (text[i] === '"') {
      i++;
      while (i < text.length && text[i] !== '"') field += text[i++];
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i])) field += text[i++];
    }
    fields.push(field);
  }
  while (i < text.length && /\s/.test(text[i])) i++;
  if (i < text.length) fields.push(text.slice(i).trimEnd());
  return fields;
}

/**
 * Parses tmpfiles.d text. Lines whose path uses specifiers (other than `%%`) are skipped: they
 * depend on the running system. `prefix` also parses comment lines that start with it.
 */
export function parseTmpfiles(text: string, prefix?: string): TmpfilesLine[] {
  const out: TmpfilesLine[] = [];
  for (let raw of text.split("\n")) {
    raw = raw.trim();
    if (prefix && raw.startsWith(prefix)) raw = raw.slice(prefix.length).trim();
    else if (!raw || raw.startsWith("#")) continue;
    const f = splitFields(raw);
    if (f.length < 2) continue;
    if (/%[^%]/.test(f[1].replace(/%%/g, ""))) continue;
    const dash = (v: string | undefined) => (v === undefined || v === "-" ? undefined : v);
    out.push({
      type: f[0],
      path: unescapeField(f[1]),
      mode: dash(f[2]),
      user: dash(f[3]),
      group: dash(f[4]),
      age: dash(f[5]),
      argument: f[6] === undefined || f[6] === "-" ? undefined : unescapeField(f[6]),
    });
  }
  return out;
}

/** The type letter without modifiers (`L+` -> `L`, `d!` -> `d`). */
export function baseType(type: string): string {
  return type.replace(/[^A-Za-z]/g, "").slice(0, 1);
}
