// `apt-ostree oci ...`: build (local, from OSTree or a directory) and the registry commands.
import type { CommandGroup } from "./main.ts";
import { registerBuild } from "./oci-build.ts";
import { registerIndex } from "./oci-index.ts";
import { registerRegistryCommands } from "./oci-registry.ts";

export const ociGroup: CommandGroup = {
  name: "oci",
  summary: "build OCI images from OSTree commits or directories; index, push, pull, copy, inspect, tags",
  register(cli, ctx) {
    registerBuild(cli, ctx);
    registerIndex(cli, ctx);
    registerRegistryCommands(cli, ctx);
  },
};
