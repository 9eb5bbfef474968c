// Config files' top-level keys in either spelling, for `oci build` (camelCase: maxLayers) and
// compose files (kebab-case: repo-mode). Pure: runs under Node.

/**
 * `value`'s top-level keys respelt by `respell`; a setting spelt both ways is `twice(key, other)`,
 * which throws. Anything that is not a plain object is returned as it is, for the schema to refuse.
 */
export function respellKeys(value: unknown, respell: (key: string) => string, twice: (key: string, other: string) => never): unknown {
  if (!value || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  const spelt = new Map<string, string>();
  for (const [key, v] of Object.entries(value)) {
    const name = respell(key);
    if (spelt.has(name)) twice(key, spelt.get(name)!);
    spelt.set(name, key);
    out[name] = v;
  }
  return out;
}
