// The CLI shell: routes `apt-ostree GROUP COMMAND` to the group's cac instance, prints errors as one
// line, maps them to exit codes. Commands live in their own modules and are imported lazily.
import { cac, type CAC } from "cac";
import { ExitCode, SYSTEM_ERRORS, UserError, oneLine } from "../errors.ts";
import { versionLine } from "../version.ts";
import { outputPathFor } from "../fs.ts";
import { processContext, type CliContext } from "./context.ts";

export interface CommandGroup {
  /** `oci`, `compose`; "" for top-level commands such as `login`. */
  name: string;
  summary: string;
  register(cli: CAC, ctx: CliContext): void;
}

async function loadGroups(): Promise<CommandGroup[]> {
  const [{ ociGroup }, { composeGroup }, { authGroup }] = await Promise.all([
    import("./oci.ts"),
    import("./compose.ts"),
    import("./auth.ts"),
  ]);
  return [ociGroup, composeGroup, authGroup];
}

function topHelp(groups: CommandGroup[]): string {
  const lines = [
    versionLine(),
    "",
    "Build image-based Debian and Ubuntu systems and ship them as OCI images.",
    "",
    "Usage: apt-ostree <group> <command> [options]",
    "",
    "Groups and commands:",
  ];
  for (const g of groups) lines.push(`  ${(g.name || "login/logout").padEnd(14)}${g.summary}`);
  lines.push(
    "",
    "Options:",
    "  -h, --help    Display this message (with a group or command: its own)",
    "  -v, --version Display the version, git commit and target",
    "",
    "Run `apt-ostree <group> --help` for a group's commands, `apt-ostree <group> <command> --help` for one.",
    "",
    "Exit codes: 0 ok, 1 failure, 2 usage, 3 not found, 4 authentication, 5 network, 6 output exists,",
    "            130 interrupted, 141 output pipe closed.",
  );
  return lines.join("\n");
}

/** Builds the cac instance for argv; exported for tests of argument parsing. */
export function buildCli(groups: CommandGroup[], argv: string[], ctx: CliContext = processContext): { cli: CAC; rest: string[] } {
  const first = argv[0];
  const group = groups.find((g) => g.name && g.name === first);
  const top = groups.find((g) => g.name === "")!;
  const cli = cac(group ? `apt-ostree ${group.name}` : "apt-ostree");
  (group ?? top).register(cli, ctx);
  // cac's usage line is the command's name and arguments alone: say that it takes options too.
  for (const command of cli.commands) if (command.name && !command.usageText) command.usage(`${command.rawName} [options]`);
  // cac heads every help with the program's name alone: say which command it is and what it does.
  cli.help((sections) => {
    const command = cli.matchedCommand;
    const head = command?.name ? `${cli.name} ${command.name}: ${command.description}` : group ? `${cli.name}: ${group.summary}` : cli.name;
    return [{ body: head }, ...sections.slice(1).map((s) => ({ ...s, body: s.body.replace(/ +$/gm, "") }))];
  });
  // Our own version flag (not cac's), so every form prints the same line.
  cli.option("-v, --version", "Display the version, git commit and target");
  return { cli, rest: joinBooleanValues(joinNegativeValues(group ? argv.slice(1) : argv)) };
}

/** Options taking an optional true/false ("[bool]"), as skopeo's --tls-verify. */
const BOOLEAN_VALUED = /^--(src-|dest-)?tls-verify$/;

/**
 * "--tls-verify IMAGE" -> "--tls-verify=true IMAGE": cac would take the next argument as the
 * option's value, and skopeo's users write the flag bare. Only "true" or "false" after it is its value.
 */
export function joinBooleanValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [arg, next] = [argv[i]!, argv[i + 1]];
    if (arg === "--") return [...out, ...argv.slice(i)];
    if (BOOLEAN_VALUED.test(arg) && next !== "true" && next !== "false") out.push(`${arg}=true`);
    else out.push(arg);
  }
  return out;
}

/**
 * "--level -3" -> "--level=-3": cac would read "-3" as a flag. No command takes a negative number
 * as a positional argument, so a long option followed by one always means its value.
 */
export function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [arg, next] = [argv[i], argv[i + 1]];
    if (arg === "--") return [...out, ...argv.slice(i)];
    if (arg.startsWith("--") && arg.length > 2 && !arg.includes("=") && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** What givenOptionValues needs of a cac option. */
export interface OptionShape {
  names: string[];
  rawName: string;
  description: string;
  isBoolean?: boolean;
}

/**
 * The values of the options that take one, exactly as given, by every name of each option. cac's
 * parser (mri) turns any value that looks like a number into one ("--tag 2.10" -> 2.1, "--user 007"
 * -> 7, "--cmd ''" -> 0), so argv is read again here the way mri splits it. An option given twice
 * is a usage error unless its help says "(repeatable)"; a repeatable one gives a list.
 */
export function givenOptionValues(argv: string[], options: OptionShape[]): Record<string, string | true | (string | true)[]> {
  const given = new Map<OptionShape, (string | true)[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") break;
    const dashes = arg.length - arg.replace(/^-+/, "").length;
    if (dashes === 0 || arg.startsWith("no-", dashes)) continue;
    // mri would take "-" (stdin to some tools) for an option with no name and swallow what follows.
    if (dashes === arg.length) throw new UserError(`'${arg}' is not an option (use ./${arg} for a file of that name)`, ExitCode.Usage);
    const eq = arg.indexOf("=", dashes + 1);
    const name = arg.slice(dashes, eq < 0 ? undefined : eq);
    // As mri: a value after "=", else the next argument unless it is an option.
    let value: string | true = eq >= 0 ? arg.slice(eq + 1) : "";
    if (value === "") value = i + 1 === argv.length || argv[i + 1].startsWith("-") ? true : argv[++i];
    // "-abc": flags a and b, then c with the value.
    const names = dashes === 2 ? [name] : [...name];
    const option = options.find((o) => !o.isBoolean && o.names.includes(camelcase(names[names.length - 1])));
    if (option) given.set(option, [...(given.get(option) ?? []), value]);
  }
  const values: Record<string, string | true | (string | true)[]> = {};
  for (const [option, list] of given) {
    const flag = option.rawName.match(/--[\w-]+/)?.[0] ?? option.rawName;
    const repeatable = option.description.includes("(repeatable)");
    if (list.length > 1 && !repeatable) throw new UserError(`${flag} given more than once`, ExitCode.Usage);
    if (option.rawName.includes("<") && list.includes(true)) throw new UserError(`${flag} needs a value`, ExitCode.Usage);
    for (const name of option.names) values[name] = repeatable ? list : list[0];
  }
  return values;
}

/** cac's option names: "max-layers" -> "maxLayers". */
function camelcase(name: string): string {
  return name.replace(/([a-z])-([a-z])/g, (_, a: string, b: string) => a + b.toUpperCase());
}

/**
 * `help oci`, `help oci build`, `oci help`, `oci help build` (as git and cargo say it): the
 * `--help` of what follows.
 */
export function helpAsFlag(argv: string[], groupNames: string[]): string[] {
  if (argv[0] === "help" && argv.length > 1) return [...argv.slice(1), "--help"];
  if (argv[1] === "help" && groupNames.includes(argv[0]!)) return [argv[0]!, ...argv.slice(2), "--help"];
  return argv;
}

/** Edit distance with swapped neighbours as one edit (the commonest typo), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** " (did you mean X?)" for the nearest of `known` to a mistyped `word` (a typo, not a guess), else "". */
export function didYouMean(word: string, known: string[]): string {
  const bare = word.replace(/^-+/, "");
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(bare, k.replace(/^-+/, ""));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.min(2, Math.floor(bare.length / 3))) ? ` (did you mean ${best}?)` : "";
}

/** Every long flag a command takes, as typed: `--max-layers`, `--no-updates`, `--help`. */
function longFlags(options: OptionShape[]): string[] {
  return options.flatMap((o) => o.rawName.split(/[\s,]+/).filter((w) => w.startsWith("--")));
}

/** Whether `flag` (`--force`) is one of `options` that takes no value. */
function takesNoValue(flag: string, options: OptionShape[]): boolean {
  return options.some((o) => o.isBoolean && longFlags([o]).includes(flag));
}

/**
 * What cac's parser would take quietly or report wrongly: `--no-X` for an X that has no such
 * form (mri reads it as X=false: `--no-rootfs` would mean nothing), and a value given to a flag
 * that takes none (`--force=yes` would make "yes" a stray argument).
 */
export function checkFlagForms(argv: string[], options: OptionShape[]): void {
  const flags = longFlags(options);
  for (const arg of argv) {
    if (arg === "--") return;
    if (!arg.startsWith("--")) continue;
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (flag.startsWith("--no-") && !flags.includes(flag)) throw new UserError(`unknown option ${flag}${didYouMean(flag, flags)}; see --help`, ExitCode.Usage);
    if (eq >= 0 && takesNoValue(flag, options)) throw new UserError(`${flag} takes no value (given '${arg.slice(eq + 1)}')`, ExitCode.Usage);
  }
}

export async function main(argv: string[], ctx: CliContext = processContext): Promise<number> {
  const groups = await loadGroups();
  const groupNames = groups.map((g) => g.name).filter(Boolean);
  argv = helpAsFlag(argv, groupNames);
  if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
    // Asked for: stdout. No command at all is a usage error: the help goes where errors go.
    if (argv.length === 0) process.stderr.write(`${topHelp(groups)}\n`);
    else ctx.out(topHelp(groups));
    return argv.length === 0 ? ExitCode.Usage : ExitCode.Ok;
  }
  if (argv[0] === "--version" || argv[0] === "-v" || argv[0] === "version") {
    ctx.out(versionLine());
    return ExitCode.Ok;
  }
  const { cli, rest } = buildCli(groups, argv, ctx);
  try {
    cli.parse(["node", "apt-ostree", ...rest], { run: false });
    if (cli.options.help) return ExitCode.Ok;
    if (cli.options.version) {
      ctx.out(versionLine());
      return ExitCode.Ok;
    }
    const inGroup = argv[0] !== rest[0];
    const seeHelp = `see 'apt-ostree ${inGroup ? argv[0] + " " : ""}--help'`;
    if (!cli.matchedCommand) {
      if (!rest[0]) throw new UserError(`a command is required; ${seeHelp}`, ExitCode.Usage);
      if (rest[0].startsWith("-")) {
        const flags = longFlags(cli.globalCommand.options);
        throw new UserError(`unknown option ${rest[0]}${didYouMean(rest[0], flags)}; ${seeHelp}`, ExitCode.Usage);
      }
      // cac's command name is its first word (the arguments are dropped); the global command's is "".
      const commands = cli.commands.map((c) => c.name).filter(Boolean);
      const known = inGroup ? commands : [...groupNames, ...commands, "help", "version"];
      throw new UserError(`unknown command '${[inGroup ? argv[0] : "", rest[0]].filter(Boolean).join(" ")}'${didYouMean(rest[0], known)}; ${seeHelp}`, ExitCode.Usage);
    }
    const options = [...cli.globalCommand.options, ...cli.matchedCommand.options];
    try {
      checkFlagForms(rest, options);
      Object.assign(cli.options, givenOptionValues(rest, options));
      const result = await cli.runMatchedCommand();
      return typeof result === "number" ? result : ExitCode.Ok;
    } catch (error) {
      throw explainParseError(error, rest, options);
    }
  } catch (error) {
    return report(error, ctx);
  }
}

/**
 * cac's "Unknown option `--x`" and "Unused args: `y`", said in our words: the nearest option for a
 * typo, and for a stray word after a flag that takes no value, that flag.
 */
function explainParseError(error: unknown, argv: string[], options: OptionShape[]): unknown {
  if (!(error instanceof Error && error.name === "CACError")) return error;
  const unknown = /^Unknown option `([^`]*)`/.exec(error.message)?.[1];
  if (unknown) return new UserError(`unknown option ${unknown}${didYouMean(unknown, longFlags(options))}; see --help`, ExitCode.Usage);
  const unused = /^Unused args: `([^`]*)`/.exec(error.message)?.[1];
  if (unused !== undefined) {
    const before = argv[argv.indexOf(unused) - 1];
    if (before && takesNoValue(before, options)) return new UserError(`${before} takes no value ('${unused}' is not an argument of this command); see --help`, ExitCode.Usage);
    return new UserError(`unexpected argument '${unused}'; see --help`, ExitCode.Usage);
  }
  return error;
}

/** One line for an error from a file system call (Node's errors carry code, syscall, path), else undefined. */
export function systemErrorLine(error: unknown): string | undefined {
  const e = error as NodeJS.ErrnoException;
  if (!(error instanceof Error) || typeof e.code !== "string" || !(e.code in SYSTEM_ERRORS)) return undefined;
  const what = SYSTEM_ERRORS[e.code];
  return e.path ? `${what}: ${e.syscall ? `cannot ${e.syscall} ` : ""}${outputPathFor(e.path)}` : `${what} (${oneLine(e.message)})`;
}

function report(error: unknown, ctx: CliContext): number {
  if (error instanceof UserError) {
    ctx.warn(oneLine(error.message));
    if (process.env.APT_OSTREE_DEBUG) console.error(error);
    return error.exitCode;
  }
  // cac throws CACError for unknown options and missing arguments.
  if (error instanceof Error && error.name === "CACError") {
    // cac says "Unknown option `--foo`": in the words and quoting of our other messages.
    const message = oneLine(error.message).replace(/^Unknown option `([^`]*)`/, "unknown option $1").replace(/`/g, "'");
    ctx.warn(`${message}; see --help`);
    return ExitCode.Usage;
  }
  const system = systemErrorLine(error);
  if (system) {
    ctx.warn(system);
    if (process.env.APT_OSTREE_DEBUG) console.error(error);
    return ExitCode.Failure;
  }
  const message = error instanceof Error ? error.message : String(error);
  ctx.warn(`internal error: ${oneLine(message)} (set APT_OSTREE_DEBUG=1 for details)`);
  if (process.env.APT_OSTREE_DEBUG) console.error(error);
  return ExitCode.Failure;
}
