/** KeyVal keys as the reader types and reads them: `users/42` or `["users", 42]` ⇄ a key array. */

export type KeyPart = string | number | boolean | { __type: string; value: string };
export type Key = KeyPart[];

export interface Entry {
  key: Key;
  value: unknown;
  versionstamp: string | null;
}

/**
 * Parses a key or prefix: a JSON array as is, else a `/`-separated path whose whole-number
 * segments are numbers (the rule of the API's URL keys). Empty text is the empty prefix.
 */
export function parseKey(text: string, { allowEmpty = false } = {}): Key {
  const t = text.trim();
  if (!t) {
    if (allowEmpty) return [];
    throw new Error("Enter a key: a path such as users/42, or a JSON array such as [\"users\", 42].");
  }
  if (t.startsWith("[")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch (e) {
      throw new Error(`The key is not valid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed) || (!allowEmpty && parsed.length === 0)) throw new Error("A key in JSON must be a non-empty array of parts.");
    return parsed as Key;
  }
  return t.split("/").filter((s) => s !== "").map((s) => (/^-?\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : s));
}

/** Shows a key the way `parseKey` reads it back: a path when that is unambiguous, else JSON. */
export function formatKey(key: Key): string {
  const pathy = key.every((p) => (typeof p === "string" && p !== "" && !p.includes("/") && !/^-?\d+$/.test(p)) || (typeof p === "number" && Number.isSafeInteger(p)));
  return pathy && key.length ? key.join("/") : JSON.stringify(key);
}

/** A prefix as the watch routes take it in their query (`a/b`). */
export function prefixQuery(key: Key): string {
  return key.map(String).join("/");
}
