// allSettledOrThrow: what lets concurrent ostree calls share a temporary directory safely.
import { describe, expect, it } from "vitest";
import { allSettledOrThrow } from "../src/cleanup.ts";

const later = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe("allSettledOrThrow", () => {
  it("gives every value, in order", async () => {
    expect(await allSettledOrThrow([later(20, "a"), Promise.resolve(2)])).toEqual(["a", 2]);
  });

  it("rejects with the first failure only once every promise has settled", async () => {
    let slowDone = false;
    const slow = later(50, "slow").then((v) => ((slowDone = true), v));
    await expect(allSettledOrThrow([Promise.reject(new Error("first")), slow, Promise.reject(new Error("second"))])).rejects.toThrow("first");
    expect(slowDone).toBe(true);
  });
});
