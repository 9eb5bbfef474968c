#!/usr/bin/env bun
// The executable's entry: everything else is the library and src/cli.
import { main } from "./cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
