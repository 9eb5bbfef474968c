// Running host tools: how a tool's failure reads.
import { describe, expect, it } from "vitest";
import { check } from "../src/exec.ts";
import { UserError } from "../src/errors.ts";

async function failure(promise: Promise<unknown>): Promise<UserError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error("expected a failure");
}

describe("check", () => {
  it("quotes a tool's stderr on one line, with no ';' for its final newline", async () => {
    const e = await failure(check("sh", ["-c", "echo 'error: one' >&2; echo '  error: two' >&2; exit 3"]));
    expect([e.message, e.exitCode]).toEqual(["sh -c failed: error: one; error: two", 1]);
  });
});
