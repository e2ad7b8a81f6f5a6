/**
 * The database studio's cell editing, in a real browser against the real runtime: text, number,
 * boolean and NULL edits land in the database (checked through the API), invalid JSON and a
 * constraint the database enforces are refused with their reason and the editor kept, binary
 * cells and key-less tables cannot be edited, a row deleted meanwhile is reported; screenshots of
 * the editor at 375 and 1440 px.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import type { Browser, FrameLocator, Locator, Page } from "playwright-core";
import { chromiumAvailable, launch, screenshotDir, startRuntime, type Runtime, desktopContext } from "./support.ts";

// Each test makes several edits and full-page screenshots at two widths; the first took 23 s on a
// quiet machine and over 45 s inside a CI run on the same 2 cores.
setDefaultTimeout(120_000);

describe.skipIf(!chromiumAvailable())("database studio: cell editing", () => {
  let rt: Runtime;
  let browser: Browser;
  let page: Page;
  let shots: string;

  beforeAll(async () => {
    [rt, browser, shots] = await Promise.all([startRuntime(), launch(), screenshotDir()]);
    const context = await desktopContext(browser);
    page = await context.newPage();
    console.log(`screenshots: ${shots}`);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
  });

  const frame = (): FrameLocator => page.frameLocator("iframe");

  /** Runs SQL through the plugin's API and returns its rows (the test's view of the database). */
  async function sql(statement: string, args: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    const res = await fetch(`${rt.url}/database/api/query`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sql: statement, args }),
    });
    const body = (await res.json()) as { rows: Array<Record<string, unknown>>; error?: string };
    if (res.status !== 200) throw new Error(`${statement}: ${res.status} ${body.error}`);
    return body.rows;
  }
  const stored = async (id: number) => (await sql("SELECT * FROM e2e_cells WHERE id = ?", [id]))[0]!;

  /** The grid cell of `column` in the row whose id is `id`. */
  function cell(id: number, column: string): Locator {
    return frame().locator("table[role=grid] tbody tr").filter({ has: frame().locator(`td[data-column="id"]`, { hasText: new RegExp(`^${id}$`) }) }).locator(`td[data-column="${column}"]`);
  }

  async function openTable(name: string) {
    await page.goto(`${rt.url}/cpanel/database/studio?table=${name}`);
    await frame().getByRole("heading", { name, level: 2 }).waitFor();
    await frame().getByRole("grid", { name: `Rows of ${name}` }).waitFor();
  }

  /** Screenshots at both widths, with `focus` scrolled into the frame's view. */
  async function snap(name: string, focus: Locator) {
    for (const width of [1440, 375]) {
      await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
      await page.waitForTimeout(400);
      await focus.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  }

  test("text, number, boolean and NULL edits are stored; the grid shows what the database holds", async () => {
    await sql("CREATE TABLE e2e_cells (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER CHECK (qty IS NULL OR qty >= 0), meta JSON, done BOOLEAN, data BLOB)");
    await sql(`INSERT INTO e2e_cells VALUES (1, 'apple', 3, '{"a":1}', 0, X'00FF10'), (2, 'pear', 7, NULL, 1, NULL), (3, 'plum', 1, NULL, 0, NULL)`);
    await openTable("e2e_cells");
    await expect(cell(1, "name").textContent()).resolves.toBe("apple");

    // Text, with the mouse: double-click, type, Enter.
    await cell(1, "name").dblclick();
    const name = frame().getByRole("textbox", { name: "New value of name" });
    await expect(name.inputValue()).resolves.toBe("apple");
    await name.fill("apple pie");
    await name.press("Enter");
    await name.waitFor({ state: "detached" });
    await expect(cell(1, "name").textContent()).resolves.toBe("apple pie");
    await expect(frame().getByTestId("grid-status").textContent()).resolves.toBe("Saved name: the database now holds apple pie.");
    expect((await stored(1)).name).toBe("apple pie");

    // A number, with the keyboard only: the focused cell moves with the arrows, Enter edits.
    await expect(page.evaluate(() => document.querySelector("iframe")!.contentDocument!.activeElement?.getAttribute("data-column"))).resolves.toBe("name");
    await page.keyboard.press("ArrowRight");
    await expect(page.evaluate(() => document.querySelector("iframe")!.contentDocument!.activeElement?.getAttribute("data-column"))).resolves.toBe("qty");
    await page.keyboard.press("Enter");
    const qty = frame().getByRole("spinbutton", { name: "New value of qty" });
    await expect(qty.inputValue()).resolves.toBe("3");
    await page.keyboard.press("Control+A");
    await page.keyboard.type("42");
    await page.keyboard.press("Enter");
    await qty.waitFor({ state: "detached" });
    await expect(cell(1, "qty").textContent()).resolves.toBe("42");
    expect((await stored(1)).qty).toBe(42);

    // Escape cancels: nothing is sent, the cell shows the stored value again.
    await page.keyboard.press("Enter");
    await qty.fill("5");
    await page.keyboard.press("Escape");
    await qty.waitFor({ state: "detached" });
    await expect(cell(1, "qty").textContent()).resolves.toBe("42");
    expect((await stored(1)).qty).toBe(42);

    // The database refuses a value (a CHECK constraint): its message shows by the cell and the
    // editor keeps what was typed.
    await page.keyboard.press("Enter");
    await qty.fill("-1");
    await qty.press("Enter");
    await expect(cell(1, "qty").getByTestId("cell-error").textContent()).resolves.toContain("CHECK constraint failed");
    await expect(qty.inputValue()).resolves.toBe("-1");
    expect((await stored(1)).qty).toBe(42);
    await qty.press("Escape");
    await qty.waitFor({ state: "detached" });

    // A boolean is a checkbox; SQLite stores it as 1.
    await cell(1, "done").dblclick();
    const done = frame().getByRole("checkbox", { name: "New value of done" });
    await expect(done.isChecked()).resolves.toBe(false);
    await done.check();
    await done.press("Enter");
    await done.waitFor({ state: "detached" });
    await expect(cell(1, "done").textContent()).resolves.toBe("1");
    expect((await stored(1)).done).toBe(1);

    // NULL, with the toggle of a nullable column, saved with the Save button.
    await cell(2, "qty").dblclick();
    await frame().getByRole("checkbox", { name: "NULL" }).check();
    await expect(frame().getByRole("spinbutton", { name: "New value of qty" }).isDisabled()).resolves.toBe(true);
    await frame().getByRole("button", { name: "Save" }).click();
    await cell(2, "qty").locator(".ui-null").waitFor();
    await expect(cell(2, "qty").textContent()).resolves.toBe("NULL");
    expect((await stored(2)).qty).toBeNull();
    // A NOT NULL column offers no NULL toggle.
    await cell(2, "name").dblclick();
    const pear = frame().getByRole("textbox", { name: "New value of name" });
    await pear.waitFor();
    await expect(frame().getByRole("checkbox", { name: "NULL" }).count()).resolves.toBe(0);
    // Leaving the editor (a click elsewhere) saves.
    await pear.fill("pear two");
    await frame().getByRole("heading", { name: "e2e_cells" }).click();
    await pear.waitFor({ state: "detached" });
    await expect(cell(2, "name").textContent()).resolves.toBe("pear two");
    expect((await stored(2)).name).toBe("pear two");
  });

  test("invalid JSON is refused in the editor with the reason, and the database keeps its value", async () => {
    await openTable("e2e_cells");
    await cell(1, "meta").dblclick();
    const meta = frame().getByRole("textbox", { name: "New value of meta" });
    await expect(meta.inputValue()).resolves.toBe('{"a":1}');
    await meta.fill('{"a": 2,}');
    await meta.press("Control+Enter");
    await expect(cell(1, "meta").getByTestId("cell-error").textContent()).resolves.toStartWith("Not valid JSON:");
    // Leaving the editor tries to save too: still refused, still open with the text typed.
    await frame().getByRole("heading", { name: "e2e_cells" }).click();
    await expect(cell(1, "meta").getByTestId("cell-error").isVisible()).resolves.toBe(true);
    await expect(meta.inputValue()).resolves.toBe('{"a": 2,}');
    expect((await stored(1)).meta).toBe('{"a":1}');
    await snap("database-cell-editor", cell(1, "meta"));

    await meta.fill('{"a": 2}');
    await meta.press("Control+Enter");
    await meta.waitFor({ state: "detached" });
    await expect(cell(1, "meta").textContent()).resolves.toBe('{"a": 2}');
    expect((await stored(1)).meta).toBe('{"a": 2}');
  });

  test("binary cells cannot be edited, and say why", async () => {
    await openTable("e2e_cells");
    const blob = cell(1, "data");
    await expect(blob.getAttribute("aria-readonly")).resolves.toBe("true");
    await expect(blob.getAttribute("title")).resolves.toBe("data is binary (BLOB): its values are read-only here.");
    await blob.dblclick();
    await blob.press("Enter");
    await expect(frame().getByTestId("grid-status").textContent()).resolves.toBe("data is binary (BLOB): its values are read-only here.");
    await expect(frame().locator(".db-editor").count()).resolves.toBe(0);
    await expect(frame().locator("[aria-label^='New value of']").count()).resolves.toBe(0);
    expect((await sql("SELECT hex(data) AS h FROM e2e_cells WHERE id = 1"))[0]!.h).toBe("00FF10");
  });

  test("a row deleted meanwhile is reported, not silently lost", async () => {
    await openTable("e2e_cells");
    await sql("DELETE FROM e2e_cells WHERE id = 3");
    await cell(3, "name").dblclick();
    await frame().getByRole("textbox", { name: "New value of name" }).fill("ghost");
    await page.keyboard.press("Enter");
    // The alert is in the page from the start, hidden and empty: wait for the save to show it.
    const alert = frame().getByTestId("grid-alert");
    await alert.waitFor({ state: "visible" });
    await expect(alert.textContent()).resolves.toContain("0 rows were updated and the row is no longer there");
    await expect(cell(3, "name").getAttribute("aria-readonly")).resolves.toBe("true");
    expect(await sql("SELECT * FROM e2e_cells WHERE id = 3")).toEqual([]);
  });

  test("a table without a primary key is read-only, with a note", async () => {
    await sql("CREATE TABLE e2e_nokey (a TEXT, b INTEGER)");
    await sql("INSERT INTO e2e_nokey VALUES ('x', 1)");
    await openTable("e2e_nokey");
    await expect(frame().getByTestId("read-only-note").textContent()).resolves.toContain("no primary key, so its rows are read-only");
    await frame().locator('td[data-column="a"]').dblclick();
    await expect(frame().locator(".db-editor").count()).resolves.toBe(0);
    expect((await sql("SELECT a FROM e2e_nokey"))[0]!.a).toBe("x");
  });
});
