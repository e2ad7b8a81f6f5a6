/** The studio's row statements per dialect, and the cell editors' reading of types and input. */
import { describe, expect, test } from "bun:test";
import { editorText, kindOf, parseInput, truthy, unchanged } from "./cells.ts";
import { dialectOf, quoteIdent, selectRow, updateCell } from "./sql.ts";

describe("quoting", () => {
  test("sqlite, libsql and postgres double-quote identifiers, doubling an embedded quote", () => {
    for (const d of ["sqlite", "libsql", "postgres"] as const) {
      expect(quoteIdent(d, "name")).toBe('"name"');
      expect(quoteIdent(d, 'say "hi"')).toBe('"say ""hi"""');
      expect(quoteIdent(d, "back`tick")).toBe('"back`tick"');
    }
  });
  test("mysql backquotes identifiers, doubling an embedded backquote", () => {
    expect(quoteIdent("mysql", "name")).toBe("`name`");
    expect(quoteIdent("mysql", "a`b")).toBe("`a``b`");
    expect(quoteIdent("mysql", 'say "hi"')).toBe('`say "hi"`');
  });
  test("odd identifiers stay one identifier: spaces, semicolons, comment marks, unicode", () => {
    expect(quoteIdent("sqlite", 'x"; DROP TABLE t; --')).toBe('"x""; DROP TABLE t; --"');
    expect(quoteIdent("mysql", "x`; DROP TABLE t; -- ")).toBe("`x``; DROP TABLE t; -- `");
    expect(quoteIdent("postgres", "prix (€)")).toBe('"prix (€)"');
  });
  test("the adapter type picks the dialect; an unknown one is written like sqlite", () => {
    expect(dialectOf("postgres")).toBe("postgres");
    expect(dialectOf("MySQL")).toBe("mysql");
    expect(dialectOf("libsql")).toBe("libsql");
    expect(dialectOf("sqlite")).toBe("sqlite");
    expect(dialectOf("")).toBe("sqlite");
  });
});

describe("update of one cell", () => {
  test("sqlite and libsql: ? placeholders, value first, then the key", () => {
    for (const d of ["sqlite", "libsql"] as const) {
      expect(updateCell(d, "items", "name", "pear", [["id", 2]])).toEqual({ sql: 'UPDATE "items" SET "name" = ? WHERE "id" = ?', args: ["pear", 2] });
    }
  });
  test("postgres: numbered placeholders in order", () => {
    expect(updateCell("postgres", "items", "qty", 7, [["id", 2]])).toEqual({ sql: 'UPDATE "items" SET "qty" = $1 WHERE "id" = $2', args: [7, 2] });
  });
  test("mysql: backquotes and ? placeholders", () => {
    expect(updateCell("mysql", "items", "qty", 7, [["id", 2]])).toEqual({ sql: "UPDATE `items` SET `qty` = ? WHERE `id` = ?", args: [7, 2] });
  });
  test("a composite key matches every key column", () => {
    const key = [["tenant", "acme"], ["id", 9]] as const;
    expect(updateCell("postgres", "orders", "note", "hi", key)).toEqual({ sql: 'UPDATE "orders" SET "note" = $1 WHERE "tenant" = $2 AND "id" = $3', args: ["hi", "acme", 9] });
    expect(updateCell("mysql", "orders", "note", "hi", key)).toEqual({ sql: "UPDATE `orders` SET `note` = ? WHERE `tenant` = ? AND `id` = ?", args: ["hi", "acme", 9] });
    expect(updateCell("sqlite", "orders", "note", "hi", key).sql).toBe('UPDATE "orders" SET "note" = ? WHERE "tenant" = ? AND "id" = ?');
  });
  test("NULL is sent as an argument; a NULL key value is matched with IS NULL and takes no placeholder", () => {
    expect(updateCell("sqlite", "t", "qty", null, [["id", 1]])).toEqual({ sql: 'UPDATE "t" SET "qty" = ? WHERE "id" = ?', args: [null, 1] });
    expect(updateCell("postgres", "t", "qty", undefined, [["a", null], ["b", 3]])).toEqual({ sql: 'UPDATE "t" SET "qty" = $1 WHERE "a" IS NULL AND "b" = $2', args: [null, 3] });
  });
  test("odd table and column names are quoted, values never enter the SQL", () => {
    const s = updateCell("sqlite", 'my "table"', "a;b", "'); DROP TABLE x; --", [['k"', "v"]]);
    expect(s.sql).toBe('UPDATE "my ""table""" SET "a;b" = ? WHERE "k""" = ?');
    expect(s.args).toEqual(["'); DROP TABLE x; --", "v"]);
    expect(updateCell("mysql", "we`ird", "c`ol", 1, [["i`d", 1]]).sql).toBe("UPDATE `we``ird` SET `c``ol` = ? WHERE `i``d` = ?");
  });
  test("no key, no statement", () => {
    expect(() => updateCell("sqlite", "t", "a", 1, [])).toThrow("primary key");
  });
});

describe("select of one row", () => {
  test("by its key, per dialect", () => {
    expect(selectRow("sqlite", "items", [["id", 2]])).toEqual({ sql: 'SELECT * FROM "items" WHERE "id" = ?', args: [2] });
    expect(selectRow("postgres", "o", [["a", "x"], ["b", 1]])).toEqual({ sql: 'SELECT * FROM "o" WHERE "a" = $1 AND "b" = $2', args: ["x", 1] });
    expect(selectRow("mysql", "o", [["a", "x"], ["b", 1]])).toEqual({ sql: "SELECT * FROM `o` WHERE `a` = ? AND `b` = ?", args: ["x", 1] });
  });
});

describe("editor per declared type", () => {
  test("booleans: BOOLEAN, BOOL, MySQL's tinyint(1)", () => {
    for (const t of ["BOOLEAN", "bool", "boolean", "tinyint(1)", "TINYINT( 1 ) unsigned"]) expect(kindOf(t)).toBe("boolean");
    expect(kindOf("tinyint(4)")).toBe("integer");
  });
  test("numbers, whole and not, as each engine names them", () => {
    for (const t of ["INTEGER", "INT", "bigint", "smallint", "int(11) unsigned", "INT8", "serial", "UNSIGNED BIG INT", "MEDIUMINT"]) expect(kindOf(t)).toBe("integer");
    for (const t of ["REAL", "NUMERIC", "DECIMAL(10,2)", "numeric", "double precision", "DOUBLE", "FLOAT", "float8"]) expect(kindOf(t)).toBe("number");
    // Not numbers, although INT is in their names.
    expect(kindOf("interval")).toBe("text");
    expect(kindOf("point")).toBe("text");
  });
  test("JSON, UUID, binary, and text for the rest", () => {
    expect(kindOf("JSON")).toBe("json");
    expect(kindOf("jsonb")).toBe("json");
    expect(kindOf("uuid")).toBe("uuid");
    for (const t of ["BLOB", "bytea", "varbinary(16)", "BINARY(16)", "longblob"]) expect(kindOf(t)).toBe("binary");
    for (const t of ["TEXT", "", "character varying", "VARCHAR(20)", "timestamp with time zone"]) expect(kindOf(t)).toBe("text");
  });
});

describe("reading an edit", () => {
  test("JSON must parse, and is sent as typed; the reason is given when it does not", () => {
    expect(parseInput("json", '{"a": [1, 2]}')).toEqual({ ok: true, value: '{"a": [1, 2]}' });
    const bad = parseInput("json", "{a: 1}");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toStartWith("Not valid JSON: ");
    expect(parseInput("json", "").ok).toBe(false);
  });
  test("a UUID must have the 8-4-4-4-12 shape", () => {
    expect(parseInput("uuid", " 123e4567-E89B-12d3-a456-426614174000 ")).toEqual({ ok: true, value: "123e4567-E89B-12d3-a456-426614174000" });
    for (const s of ["123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g", ""]) {
      const r = parseInput("uuid", s);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error).toContain("not a UUID");
    }
  });
  test("whole numbers and numbers; digits a double would lose go as text", () => {
    expect(parseInput("integer", " 42 ")).toEqual({ ok: true, value: 42 });
    expect(parseInput("integer", "-7")).toEqual({ ok: true, value: -7 });
    expect(parseInput("integer", "9223372036854775807")).toEqual({ ok: true, value: "9223372036854775807" });
    expect(parseInput("integer", "1.5").ok).toBe(false);
    expect(parseInput("integer", "").ok).toBe(false);
    expect(parseInput("number", "1.25")).toEqual({ ok: true, value: 1.25 });
    expect(parseInput("number", "-3e2")).toEqual({ ok: true, value: -300 });
    expect(parseInput("number", "0.12345678901234567890")).toEqual({ ok: true, value: "0.12345678901234567890" });
    expect(parseInput("number", "abc").ok).toBe(false);
  });
  test("booleans come from the checkbox; text is kept exactly", () => {
    expect(parseInput("boolean", true)).toEqual({ ok: true, value: true });
    expect(parseInput("boolean", false)).toEqual({ ok: true, value: false });
    expect(parseInput("text", "  spaced\n")).toEqual({ ok: true, value: "  spaced\n" });
    expect(parseInput("binary", "x").ok).toBe(false);
  });
  test("stored booleans are 0/1 or true/false; an editor starts from the stored value", () => {
    expect([1, 0, true, false, "t", "false", null].map(truthy)).toEqual([true, false, true, false, true, false, false]);
    expect(editorText("text", null)).toBe("");
    expect(editorText("json", { a: 1 })).toBe('{\n  "a": 1\n}');
    expect(editorText("integer", 5)).toBe("5");
  });
  test("an edit to the stored value changes nothing", () => {
    expect(unchanged("boolean", 1, true)).toBe(true);
    expect(unchanged("boolean", 0, true)).toBe(false);
    expect(unchanged("integer", 5, 5)).toBe(true);
    expect(unchanged("number", 2.5, 2.5)).toBe(true);
    expect(unchanged("text", "a", "a ")).toBe(false);
    expect(unchanged("text", null, null)).toBe(true);
    expect(unchanged("text", null, "")).toBe(false);
    expect(unchanged("text", "", null)).toBe(false);
  });
});
