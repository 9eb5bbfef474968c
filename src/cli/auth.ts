// Top-level `apt-ostree login|logout`: placeholder until the registry client lands.
import type { CommandGroup } from "./main.ts";

export const authGroup: CommandGroup = {
  name: "",
  summary: "log in to / out of a registry (containers auth.json)",
  register() {},
};
