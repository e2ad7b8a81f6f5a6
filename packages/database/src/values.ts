/**
 * Conversions between JavaScript values and HRANA's JSON values, statements and results.
 */
import type { HranaStmt, HranaStmtResult, HranaValue, InArgs, InValue, OutValue, ResultSet, Row } from "./types.ts";

/** Encodes bytes as standard, padded base64. */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  // In chunks: spreading a large array into String.fromCharCode overflows the stack.
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** Decodes standard base64, padded or not. */
export function fromBase64(text: string): Uint8Array {
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  const binary = atob(padded);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Converts one argument; `where` names it in the error for a value SQL cannot hold. */
export function toHranaValue(value: InValue, where = "argument"): HranaValue {
  if (value === null || value === undefined) return { type: "null" };
  switch (typeof value) {
    case "string":
      return { type: "text", value };
    case "number":
      if (!Number.isFinite(value)) throw new RangeError(`${where}: ${value} cannot be stored (only finite numbers can)`);
      return Number.isInteger(value) ? { type: "integer", value: String(value) } : { type: "float", value };
    case "bigint":
      if (value < I64_MIN || value > I64_MAX) throw new RangeError(`${where}: ${value} does not fit in a 64-bit integer`);
      return { type: "integer", value: String(value) };
    case "boolean":
      return { type: "integer", value: value ? "1" : "0" };
  }
  if (value instanceof Uint8Array) return { type: "blob", base64: toBase64(value) };
  if (value instanceof ArrayBuffer) return { type: "blob", base64: toBase64(new Uint8Array(value)) };
  if (value instanceof Date) return { type: "integer", value: String(value.getTime()) };
  throw new TypeError(`${where}: unsupported value of type ${Object.prototype.toString.call(value)} (use string, number, bigint, boolean, Uint8Array, Date or null)`);
}

/** Converts one value of a result: integers become `number` when safe, else `bigint`. */
export function fromHranaValue(value: HranaValue): OutValue {
  switch (value.type) {
    case "null":
      return null;
    case "integer": {
      const n = Number(value.value);
      return Number.isSafeInteger(n) ? n : BigInt(value.value);
    }
    case "float":
      return value.value;
    case "text":
      return value.value;
    case "blob":
      return fromBase64(value.base64);
  }
}

/** Builds a wire statement from SQL and positional or named arguments. */
export function toHranaStmt(sql: string, args?: InArgs): HranaStmt {
  if (typeof sql !== "string" || sql.trim() === "") throw new TypeError("sql must be a non-empty string");
  const stmt: HranaStmt = { sql, want_rows: true };
  if (Array.isArray(args)) {
    stmt.args = args.map((v, i) => toHranaValue(v, `args[${i}]`));
  } else if (args !== undefined && args !== null) {
    stmt.named_args = Object.entries(args).map(([name, v]) => ({ name, value: toHranaValue(v, `args.${name}`) }));
  }
  return stmt;
}

/** Converts a wire result into a {@link ResultSet}. */
export function toResultSet(result: HranaStmtResult): ResultSet {
  const columns = result.cols.map((c, i) => c.name ?? `column${i}`);
  const rows = result.rows.map((values) => {
    const row: Row = {};
    values.forEach((v, i) => {
      row[columns[i] ?? `column${i}`] = fromHranaValue(v);
    });
    return row;
  });
  return {
    affectedRows: result.affected_row_count,
    columns,
    columnTypes: result.cols.map((c) => c.decltype ?? ""),
    lastInsertRowid: result.last_insert_rowid === null || result.last_insert_rowid === undefined ? null : BigInt(result.last_insert_rowid),
    rows,
  };
}
