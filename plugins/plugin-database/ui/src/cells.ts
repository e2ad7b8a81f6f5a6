/**
 * What a cell's editor is, from the column's declared type as each engine reports it (SQLite's
 * declared type, PostgreSQL's `data_type`, MySQL's `column_type`), and what an edit sends.
 */

/** The editor a column gets; `binary` columns are read-only. */
export type Kind = "boolean" | "integer" | "number" | "json" | "uuid" | "binary" | "text";

const BINARY = /\b(BLOB|TINYBLOB|MEDIUMBLOB|LONGBLOB|BYTEA|BINARY|VARBINARY)\b/;
const BOOLEAN = /^(BOOLEAN|BOOL)\b|^TINYINT\s*\(\s*1\s*\)/;
const INTEGER = /^(UNSIGNED\s+)?((TINY|SMALL|MEDIUM|BIG)\s*)?INT(EGER)?[248]?\b|^(SMALL|BIG)?SERIAL\b/;
const NUMBER = /^(REAL|NUMERIC|DECIMAL|DEC|FLOAT[48]?|DOUBLE|NUMBER)\b/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The editor for a declared type (`INTEGER`, `tinyint(1)`, `double precision`, `jsonb`, …). */
export function kindOf(declared: string): Kind {
  const t = declared.trim().toUpperCase();
  if (BINARY.test(t)) return "binary";
  if (BOOLEAN.test(t)) return "boolean";
  if (/^JSONB?\b/.test(t)) return "json";
  if (/^UUID\b/.test(t)) return "uuid";
  if (INTEGER.test(t)) return "integer";
  if (NUMBER.test(t)) return "number";
  return "text";
}

/** Whether a stored value reads as true (SQLite and MySQL keep booleans as 0/1). */
export function truthy(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0;
  if (typeof value === "string") return /^(1|t|true|y|yes|on)$/i.test(value.trim());
  return false;
}

/** The text an editor starts with for a stored value (empty for NULL). */
export function editorText(kind: Kind, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") return JSON.stringify(value, null, kind === "json" ? 2 : undefined);
  return String(value);
}

/** An edit's outcome: the value to send, or why it cannot be saved. */
export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Reads an editor's input for a column of `kind`: a checkbox's state for booleans (sent as
 * true/false, which the API stores as 1/0), a number (as text when a JS number would lose
 * digits, for the engine to parse), JSON text that must parse (sent as typed), a UUID.
 */
export function parseInput(kind: Kind, input: string | boolean): Parsed {
  if (kind === "binary") return { ok: false, error: "Binary values are read-only here." };
  if (kind === "boolean") return { ok: true, value: typeof input === "boolean" ? input : truthy(input) };
  const raw = String(input);
  const s = raw.trim();
  switch (kind) {
    case "integer": {
      if (!/^[+-]?\d+$/.test(s)) return { ok: false, error: s ? `${s} is not a whole number.` : "Enter a whole number (or set NULL)." };
      const n = Number(s);
      return { ok: true, value: Number.isSafeInteger(n) ? n : s };
    }
    case "number": {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return { ok: false, error: s ? `${s} is not a number.` : "Enter a number (or set NULL)." };
      // A double keeps 15 significant digits; a longer decimal goes as text, for the engine to parse exactly.
      const digits = s.replace(/[eE].*$/, "").replace(/\D/g, "").replace(/^0+/, "").length;
      const n = Number(s);
      return { ok: true, value: Number.isFinite(n) && digits <= 15 ? n : s };
    }
    case "json":
      try {
        JSON.parse(raw);
        return { ok: true, value: raw };
      } catch (e) {
        return { ok: false, error: `Not valid JSON: ${(e as Error).message}` };
      }
    case "uuid":
      return UUID.test(s) ? { ok: true, value: s } : { ok: false, error: `${s || "An empty value"} is not a UUID (8-4-4-4-12 hexadecimal digits).` };
    default:
      return { ok: true, value: raw };
  }
}

/** Whether an edit leaves the stored value as it is (so there is nothing to save). */
export function unchanged(kind: Kind, stored: unknown, next: unknown): boolean {
  if (stored === null || stored === undefined || next === null) return (stored ?? null) === next;
  if (kind === "boolean") return truthy(stored) === truthy(next);
  if (kind === "integer" || kind === "number") return String(stored) === String(next) || Number(stored) === Number(next) && typeof next === "number";
  return editorText(kind, stored) === String(next);
}
