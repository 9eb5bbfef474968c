#!/usr/bin/env bun
// The executable's entry: everything else is the library and src/cli.
import { guardOutputStreams } from "./cli/context.ts";
import { main } from "./cli/main.ts";

guardOutputStreams();

process.exitCode = await main(process.argv.slice(2));
