// `apt-ostree oci push|pull|copy|inspect|tags`: placeholder until the registry client lands.
import type { CAC } from "cac";
import type { CliContext } from "./context.ts";

export function registerRegistryCommands(_cli: CAC, _ctx: CliContext): void {}
