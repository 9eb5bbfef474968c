// `apt-ostree compose ...`: placeholder until compose lands.
import type { CommandGroup } from "./main.ts";

export const composeGroup: CommandGroup = {
  name: "compose",
  summary: "build Debian/Ubuntu systems with mmdebstrap and commit them to OSTree",
  register() {},
};
