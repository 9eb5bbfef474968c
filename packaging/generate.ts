// Writes the bash and zsh completions (packaging/completions/) and the man page's COMMANDS section
// (packaging/apt-ostree.1 from packaging/apt-ostree.1.in) from the CLI's own `--help` output, so that they
// name exactly the commands and options the binary has. The files are committed; run
//   node_modules/.bin/bun packaging/generate.ts           (rewrite them)
//   node_modules/.bin/bun packaging/generate.ts --check   (exit 1 when they are out of date)
// The CLI runs from source (APT_OSTREE_BIN overrides: e.g. dist/apt-ostree-linux-x64).
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const cli = (process.env.APT_OSTREE_BIN ?? `${process.execPath} ${join(root, "src/bin.ts")}`).split(/\s+/);

export interface Option {
  /** `--threads`; `-u` short forms are kept in `short`. */
  name: string;
  short?: string;
  /** `<n>`, `[bool]` or undefined for a switch. */
  arg?: string;
  description: string;
}
export interface Command {
  /** ["oci", "build"], ["login"] */
  path: string[];
  description: string;
  options: Option[];
}

function help(args: string[]): string {
  const r = spawnSync(cli[0], [...cli.slice(1), ...args, "--help"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  if (r.status !== 0) throw new Error(`apt-ostree ${args.join(" ")} --help failed: ${r.stderr}`);
  return r.stdout;
}

function section(text: string, title: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === `${title}:`);
  if (start < 0) return [];
  const out: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith("  ")) break;
    out.push(line);
  }
  return out;
}

function parseOptions(text: string): Option[] {
  return section(text, "Options")
    .map((line) => line.match(/^\s+(?:(-\w),\s+)?(--[\w-]+)(?:\s+([<[][^>\]]+[>\]]))?\s*(.*?)\s*$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .filter((m) => m[2] !== "--help" && m[2] !== "--version")
    .map((m) => ({ name: m[2], short: m[1], arg: m[3], description: m[4] }));
}

function parseCommands(text: string): { name: string; description: string }[] {
  return section(text, "Commands")
    .map((line) => line.match(/^\s+(\S+)(?:\s+[[<][^\s]*)*\s{2,}(.*?)\s*$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ name: m[1], description: m[2] }));
}

export function collect(): Command[] {
  const commands: Command[] = [];
  for (const group of ["oci", "compose"]) {
    for (const c of parseCommands(help([group]))) {
      commands.push({ path: [group, c.name], description: c.description, options: parseOptions(help([group, c.name])) });
    }
  }
  const top = help([]);
  for (const name of ["login", "logout"]) {
    if (!top.includes(name)) continue;
    const text = help([name]);
    commands.push({ path: [name], description: name === "login" ? "log in to a registry" : "log out of a registry", options: parseOptions(text) });
  }
  return commands;
}

// Values worth offering for an option of a command group; `_files`/`-d` for paths.
function values(o: Option, group: string): { words?: string[]; kind: "dir" | "file" | "words" | "none" } {
  const known: Record<string, string[]> = {
    "--compression": ["gzip", "zstd", "none"],
    "--zstd-frames": ["many", "one"],
    "--format": ["oci", "oci-archive", "docker"],
    // compose's is mmdebstrap's; the registry commands' a platform's.
    "--variant": group === "compose" ? ["minbase", "apt", "important", "standard"] : ["v6", "v7", "v8"],
    "--repo-mode": ["bare", "archive"],
    "--release": ["bullseye", "bookworm", "trixie", "sid", "jammy", "noble", "questing"],
    "--arch": ["amd64", "arm64", "armhf", "i386", "ppc64el", "riscv64", "s390x"],
    "--tls-verify": ["true", "false"],
    "--src-tls-verify": ["true", "false"],
    "--dest-tls-verify": ["true", "false"],
  };
  if (!o.arg) return { kind: "none" };
  if (known[o.name]) return { kind: "words", words: known[o.name] };
  if (/<(dir|dir\|tar)>/.test(o.arg) || o.name === "--cert-dir") return { kind: "dir" };
  if (/<(path|file|target)>/.test(o.arg)) return { kind: "file" };
  return { kind: "words", words: [] };
}

export function bash(commands: Command[]): string {
  const groups = ["oci", "compose"];
  const sub = (g: string) => commands.filter((c) => c.path[0] === g).map((c) => c.path[1]);
  const caseLines = commands.map((c) => `    "${c.path.join(" ")}") opts="${c.options.map((o) => [o.short, o.name].filter(Boolean).join(" ")).join(" ")}" ;;`);
  const valueLines: string[] = [];
  // What each option's value completes to, per group ("$group:$prev" in the script): the same
  // option may take other values in another group (--variant).
  const keyOf = new Map<string, Map<string, string>>();
  for (const c of commands)
    for (const o of c.options) {
      const v = values(o, c.path[0]!);
      const key = v.kind === "words" ? (v.words!.length ? `words:${v.words!.join(" ")}` : "none") : v.kind === "none" ? "" : v.kind;
      if (!key) continue;
      if (!keyOf.has(o.name)) keyOf.set(o.name, new Map());
      keyOf.get(o.name)!.set(c.path.length > 1 ? c.path[0]! : c.path[0]!, key);
    }
  const byValue = new Map<string, string[]>();
  for (const [name, perGroup] of keyOf) {
    const keys = new Set(perGroup.values());
    const patterns = keys.size === 1 ? [[`*:${name}`, [...keys][0]!]] : [...perGroup].map(([group, key]) => [`${group}:${name}`, key]);
    for (const [pattern, key] of patterns) {
      if (!byValue.has(key!)) byValue.set(key!, []);
      if (!byValue.get(key!)!.includes(pattern!)) byValue.get(key!)!.push(pattern!);
    }
  }
  // Paths one a line: names with spaces stay whole (complete -o filenames quotes them).
  const paths = (flag: string) => `mapfile -t COMPREPLY < <(compgen ${flag} -- "$cur")`;
  for (const [key, names] of byValue) {
    const pattern = names.sort().join("|");
    if (key === "dir") valueLines.push(`    ${pattern}) ${paths("-d")}; return ;;`);
    else if (key === "file") valueLines.push(`    ${pattern}) ${paths("-f")}; return ;;`);
    else if (key === "none") valueLines.push(`    ${pattern}) return ;;`);
    else valueLines.push(`    ${pattern}) COMPREPLY=($(compgen -W "${key.slice(6)}" -- "$cur")); return ;;`);
  }
  return `# bash completion for apt-ostree                                -*- shell-script -*-
# Generated by packaging/generate.ts from \`apt-ostree --help\`; do not edit.

_apt_ostree() {
  local cur prev words cword
  _init_completion 2>/dev/null || {
    cur=\${COMP_WORDS[COMP_CWORD]}
    prev=\${COMP_WORDS[COMP_CWORD-1]}
    words=("\${COMP_WORDS[@]}")
    cword=$COMP_CWORD
  }

  local group=\${words[1]:-} command="" opts=""
  case "$group:$prev" in
${valueLines.join("\n")}
  esac

  case "$group" in
    ${groups.join("|")}) command="$group \${words[2]:-}" ;;
    *) command="$group" ;;
  esac

  if [ "$cword" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${groups.join(" ")} login logout --help --version" -- "$cur"))
    return
  fi
  case "$group" in
${groups.map((g) => `    ${g}) if [ "$cword" -eq 2 ]; then COMPREPLY=($(compgen -W "${sub(g).join(" ")} --help" -- "$cur")); return; fi ;;`).join("\n")}
  esac

  case "$command" in
${caseLines.join("\n")}
    *) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
  else
    ${paths("-f")}
  fi
}
complete -o filenames -F _apt_ostree apt-ostree
`;
}

function zshEscape(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/'/g, "'\\''").replace(/\[/g, "\\[").replace(/\]/g, "\\]").replace(/:/g, "\\:");
}

export function zsh(commands: Command[]): string {
  const fn = (c: Command) => `_apt_ostree_${c.path.join("_").replace(/-/g, "_")}`;
  const spec = (o: Option, group: string): string => {
    const v = values(o, group);
    const action =
      v.kind === "none" ? "" : v.kind === "dir" ? ":dir:_files -/" : v.kind === "file" ? ":path:_files" : v.words!.length ? `:value:(${v.words!.join(" ")})` : ":value: ";
    const desc = `[${zshEscape(o.description)}]`;
    const repeat = /\(repeatable\)/.test(o.description) ? "*" : "";
    if (o.short) return `'${repeat}(${o.short} ${o.name})'{${o.short},${o.name}}'${desc}${action}'`;
    return `'${repeat}${o.name}${o.arg?.startsWith("[") ? "=" : ""}${desc}${action}'`;
  };
  const functions = commands.map(
    (c) => `${fn(c)}() {
  _arguments -s \\
${c.options.map((o) => `    ${spec(o, c.path[0]!)} \\`).join("\n")}
    '(- *)'{-h,--help}'[show help]' \\
    '*:file:_files'
}`,
  );
  const groupList = (g: string) =>
    commands
      .filter((c) => c.path[0] === g)
      .map((c) => `    '${c.path[1]}:${zshEscape(c.description)}'`)
      .join("\n");
  return `#compdef apt-ostree
# zsh completion for apt-ostree. Generated by packaging/generate.ts from \`apt-ostree --help\`; do not edit.

${functions.join("\n\n")}

_apt_ostree() {
  local -a groups oci_commands compose_commands
  groups=(
    'oci:build OCI images; index, push, pull, copy, inspect, list tags'
    'compose:build Debian/Ubuntu systems with mmdebstrap and commit them to OSTree'
    'login:log in to a registry'
    'logout:log out of a registry'
  )
  oci_commands=(
${groupList("oci")}
  )
  compose_commands=(
${groupList("compose")}
  )
  if (( CURRENT == 2 )); then
    _describe -t groups 'apt-ostree command' groups
    _arguments '(- *)'{-h,--help}'[show help]' '(- *)'{-v,--version}'[show the version]'
    return
  fi
  case $words[2] in
    oci|compose)
      if (( CURRENT == 3 )); then
        if [[ $words[2] == oci ]]; then _describe -t commands 'oci command' oci_commands
        else _describe -t commands 'compose command' compose_commands; fi
        return
      fi
      local f=_apt_ostree_$words[2]_\${words[3]//-/_}
      (( $+functions[$f] )) || return 1
      shift 2 words; (( CURRENT -= 2 ))
      $f ;;
    login|logout)
      shift words; (( CURRENT -= 1 ))
      _apt_ostree_$words[1] ;;
  esac
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _apt_ostree "$@"
else
  compdef _apt_ostree apt-ostree
fi
`;
}

function roff(text: string): string {
  return text.replace(/\\/g, "\\e").replace(/-/g, "\\-").replace(/^([.'])/, "\\&$1");
}

function usage(c: Command): string {
  const text = help(c.path);
  const line = section(text, "Usage")[0]?.trim().replace(/^\$\s*/, "") ?? "";
  return line.replace(/^apt-ostree(\/\S+)?\s+/, "").trim();
}

export function manCommands(commands: Command[]): string {
  const out: string[] = [];
  for (const c of commands) {
    const args = usage(c).split(/\s+/).slice(c.path.length).join(" ");
    out.push(`.SS "${roff(c.path.join(" "))}${args ? " " + roff(args) : ""}"`, roff(c.description.replace(/^./, (ch) => ch.toUpperCase())) + ".");
    for (const o of c.options) {
      const names = [o.short, o.name].filter(Boolean).map((n) => `\\fB${roff(n!)}\\fR`).join(", ");
      const arg = o.arg ? ` \\fI${roff(o.arg)}\\fR` : "";
      out.push(".TP", `${names}${arg}`, roff(o.description));
    }
  }
  return out.join("\n");
}

if (import.meta.main) {
  const commands = collect();
  const files: Record<string, string> = {
    "packaging/completions/apt-ostree.bash": bash(commands),
    "packaging/completions/_apt-ostree": zsh(commands),
    "packaging/apt-ostree.1": readFileSync(join(root, "packaging/apt-ostree.1.in"), "utf8")
      .replace(/^\.\\" Manual page[^\n]*\n\.\\"[^\n]*\n/, '.\\" Generated by packaging/generate.ts from packaging/apt-ostree.1.in and `apt-ostree --help`.\n')
      .replace("@VERSION@", JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version)
      .replace("@COMMANDS@", manCommands(commands)),
  };
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [path, text] of Object.entries(files)) {
    const full = join(root, path);
    let old = "";
    try {
      old = readFileSync(full, "utf8");
    } catch {}
    if (old === text) continue;
    if (check) {
      console.error(`${path} is out of date: run 'node_modules/.bin/bun packaging/generate.ts'`);
      stale++;
    } else {
      writeFileSync(full, text);
      console.error(`wrote ${path}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
