/**
 * The proxy (Redirects) and gateway UIs inside the shell, in a real browser against the real
 * runtime: a rule created, edited, toggled, reordered (keyboard and drag) and deleted through the
 * page, each step checked against the rules API and against a request the rule proxies to a small
 * upstream started here; a manifest rule shown read-only; the gateway's live counter moving with
 * requests, a bucket cleared, the log filtered, shell excludes added and removed; screenshots of
 * each page at 375 and 1440 px.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cp, mkdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import type { Browser, BrowserContext, FrameLocator, Page } from "playwright-core";
import { REPO, chromiumAvailable, launch, screenshotDir, startRuntime, type Runtime, desktopContext } from "./support.ts";

const WIDTHS = [1440, 375] as const;
setDefaultTimeout(120_000); // two tests reload the plugins; the machine may be busy

interface Rule { id: string; name: string; pattern: string; target: string; rewrite: string | null; enabled: boolean; order: number; readonly: boolean }

/** A GET from another loopback address (its own rate-limit bucket); resolves with the status. */
function getFrom(localAddress: string, url: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: u.hostname, port: Number(u.port), localAddress });
    let text = "";
    socket.on("connect", () => socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n\r\n`));
    socket.on("data", (d) => { text += d.toString(); });
    socket.on("error", reject);
    socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

describe.skipIf(!chromiumAvailable())("proxy and gateway UIs in the admin shell", () => {
  let rt: Runtime;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;
  let upstream: ReturnType<typeof Bun.serve>;

  beforeAll(async () => {
    // The upstream a rule proxies to: it says which path and query reached it.
    upstream = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        const u = new URL(req.url);
        return Response.json({ upstream: "e2e", path: u.pathname, query: u.search });
      },
    });
    [rt, browser, shots] = await Promise.all([startRuntime(), launch(), screenshotDir()]);
    context = await desktopContext(browser);
    page = await context.newPage();
    // Signed in as the shell keeps it: the key in this tab's sessionStorage, shared with the frames.
    await page.goto(`${rt.url}/cpanel/~/health`);
    await page.evaluate((key) => sessionStorage.setItem("buntime-api-key", key), rt.masterKey);
    console.log(`screenshots: ${shots}`);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
    upstream?.stop(true);
  });

  const frame = (): FrameLocator => page.frameLocator("iframe");

  /** Opens a shell URL and waits for the plugin UI's page heading in the frame. */
  async function open(path: string, heading: string) {
    await page.goto(`${rt.url}${path}`);
    await frame().getByRole("heading", { name: heading, exact: true, level: 1 }).waitFor();
    await frame().locator("main:not([aria-busy])").waitFor();
  }

  async function snap(name: string) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
      await page.waitForTimeout(400);
      await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  }

  /** The REST side, with the master key (which skips plugin hooks: no proxying, no rate limit). */
  const api = (path: string, init: { method?: string; json?: unknown } = {}) =>
    fetch(`${rt.url}${path}`, {
      method: init.method ?? "GET",
      headers: { "x-api-key": rt.masterKey, ...(init.json !== undefined ? { "content-type": "application/json" } : {}) },
      body: init.json !== undefined ? JSON.stringify(init.json) : undefined,
    });
  const rules = async () => (await (await api("/redirects/api/rules")).json()) as Rule[];
  /** A request as any client sends it (no key), so the proxy's hook sees it. */
  const through = async (path: string) => {
    const res = await fetch(`${rt.url}${path}`);
    const text = await res.text();
    let body: { upstream?: string; path?: string; query?: string } = {};
    try { body = JSON.parse(text); } catch { /* not the upstream's JSON */ }
    return { status: res.status, body };
  };
  const dialog = () => frame().getByRole("dialog");

  test("proxy: create, edit, toggle, reorder and delete a rule, and what it proxies", async () => {
    const target = `http://127.0.0.1:${upstream.port}`;
    await open("/cpanel/redirects", "Redirects");
    await frame().getByText("No rules yet").waitFor();
    expect(await rules()).toEqual([]);
    expect((await through("/e2e-up/hello")).body.upstream).toBeUndefined();

    // The form's own checks: a pattern that does not compile, a target that is not an http(s)/ws(s) URL.
    await frame().getByRole("button", { name: "New rule" }).click();
    await dialog().getByRole("textbox", { name: "Name" }).fill("e2e upstream");
    await dialog().getByRole("textbox", { name: "Pattern" }).fill("^/e2e-up/(.*");
    await dialog().getByRole("textbox", { name: "Target" }).fill("ftp://127.0.0.1");
    await dialog().getByRole("button", { name: "Create" }).click();
    const alert = dialog().getByRole("alert");
    await alert.filter({ hasText: "The pattern is not a valid regular expression" }).waitFor();
    expect(await alert.textContent()).toContain("not ftp");
    await expect(dialog().getByRole("textbox", { name: "Pattern" }).getAttribute("aria-invalid")).resolves.toBe("true");
    expect(await rules()).toEqual([]); // nothing was sent

    // A look-ahead compiles in JavaScript but not in the runtime's regex engine: the server's message shows.
    await dialog().getByRole("textbox", { name: "Pattern" }).fill("^/e2e-up/(?=h)(.*)$");
    await dialog().getByRole("textbox", { name: "Target" }).fill(target);
    await dialog().getByRole("button", { name: "Create" }).click();
    await alert.filter({ hasText: "The runtime refused the rule: Invalid regex pattern" }).waitFor();
    expect(await alert.textContent()).toContain("HTTP 400");
    await page.screenshot({ path: join(shots, "redirects-refused-1440.png") });
    expect(await rules()).toEqual([]);

    await dialog().getByRole("textbox", { name: "Pattern" }).fill("^/e2e-up/(.*)$");
    await dialog().getByRole("textbox", { name: "Rewrite" }).fill("/v1/$1");
    await dialog().getByRole("button", { name: "Create" }).click();
    await dialog().waitFor({ state: "detached" });
    await frame().getByTestId("rule-name").filter({ hasText: "e2e upstream" }).waitFor();
    let [first] = await rules();
    expect(first).toMatchObject({ name: "e2e upstream", pattern: "^/e2e-up/(.*)$", target, rewrite: "/v1/$1", enabled: true, readonly: false });
    expect(await through("/e2e-up/hello?x=1")).toEqual({ status: 200, body: { upstream: "e2e", path: "/v1/hello", query: "?x=1" } });

    // Edit: the dialog opens with the rule's values; the new rewrite is what the upstream sees.
    await frame().getByRole("button", { name: "Edit e2e upstream" }).click();
    await expect(dialog().getByRole("textbox", { name: "Rewrite" }).inputValue()).resolves.toBe("/v1/$1");
    await dialog().getByRole("textbox", { name: "Rewrite" }).fill("/v2/$1");
    await dialog().getByRole("button", { name: "Save" }).click();
    await dialog().waitFor({ state: "detached" });
    await frame().getByTestId("rule").filter({ hasText: "/v2/$1" }).waitFor();
    expect((await rules())[0]).toMatchObject({ id: first!.id, rewrite: "/v2/$1" });
    expect((await through("/e2e-up/hello")).body.path).toBe("/v2/hello");

    // Toggle off: the rule stays listed but no longer proxies; on again, it does.
    const toggle = frame().getByRole("switch", { name: "Enabled: e2e upstream" });
    await toggle.click();
    await expect(frame().getByRole("switch", { name: "Enabled: e2e upstream" }).getAttribute("aria-checked")).resolves.toBe("false");
    expect((await rules())[0]!.enabled).toBe(false);
    const off = await through("/e2e-up/hello");
    expect(off.status).toBe(404);
    expect(off.body.upstream).toBeUndefined();
    await frame().getByRole("switch", { name: "Enabled: e2e upstream" }).click();
    await expect(frame().getByRole("switch", { name: "Enabled: e2e upstream" }).getAttribute("aria-checked")).resolves.toBe("true");
    expect((await through("/e2e-up/hello")).body.path).toBe("/v2/hello");

    // A second rule, made elsewhere; the first one matches its path too, so order decides.
    const second = await api("/redirects/api/rules", { method: "POST", json: { name: "e2e second", pattern: "^/e2e-up/second$", target, rewrite: "/second" } });
    expect(second.status).toBe(201);
    await frame().getByRole("button", { name: "Refresh" }).click();
    await frame().getByTestId("rule-name").filter({ hasText: "e2e second" }).waitFor();
    expect((await through("/e2e-up/second")).body.path).toBe("/v2/second");
    await expect(frame().getByRole("button", { name: "Move e2e upstream up" }).isDisabled()).resolves.toBe(true);

    // Reorder with the keyboard: the move button keeps the focus, and the API's order changes.
    await frame().getByRole("button", { name: "Move e2e second up" }).focus();
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("iframe")?.contentDocument?.querySelector("[data-testid=rule] [data-testid=rule-name]")?.textContent === "e2e second");
    expect((await rules()).map((r) => r.name)).toEqual(["e2e second", "e2e upstream"]);
    expect((await through("/e2e-up/second")).body.path).toBe("/second");
    const focused = await page.evaluate(() => document.querySelector("iframe")?.contentDocument?.activeElement?.getAttribute("aria-label"));
    expect(focused).toBe("Move e2e second down");
    await expect(frame().getByRole("status").filter({ hasText: "is now rule 1" }).textContent()).resolves.toBe("e2e second is now rule 1 of your rules.");
    await snap("redirects");

    // Dragging a row onto the top half of another puts it before that one (the mouse's way).
    const rowOf = (name: string) => frame().getByTestId("rule").filter({ has: frame().getByTestId("rule-name").getByText(name, { exact: true }) });
    await rowOf("e2e upstream").dragTo(rowOf("e2e second"), { targetPosition: { x: 40, y: 4 } });
    await page.waitForFunction(() => document.querySelector("iframe")?.contentDocument?.querySelector("[data-testid=rule] [data-testid=rule-name]")?.textContent === "e2e upstream");
    expect((await rules()).map((r) => r.name)).toEqual(["e2e upstream", "e2e second"]);

    // Delete, after a confirmation: gone from the table and the API, and no longer proxied.
    await frame().getByRole("button", { name: "Delete e2e upstream" }).click();
    await dialog().getByRole("button", { name: "Delete" }).click();
    await frame().getByTestId("rule-name").filter({ hasText: "e2e upstream" }).waitFor({ state: "detached" });
    expect((await rules()).map((r) => r.name)).toEqual(["e2e second"]);
    expect((await through("/e2e-up/hello")).status).toBe(404);
    expect((await api(`/redirects/api/rules/${(await rules())[0]!.id}`, { method: "DELETE" })).status).toBe(200);

    // Editing a rule deleted meanwhile shows the API's message in the dialog.
    const gone = await api("/redirects/api/rules", { method: "POST", json: { name: "e2e gone", pattern: "^/e2e-gone$", target } });
    const goneId = ((await gone.json()) as Rule).id;
    await frame().getByRole("button", { name: "Refresh" }).click();
    await frame().getByRole("button", { name: "Edit e2e gone" }).click();
    expect((await api(`/redirects/api/rules/${goneId}`, { method: "DELETE" })).status).toBe(200);
    await dialog().getByRole("button", { name: "Save" }).click();
    await dialog().getByRole("alert").filter({ hasText: "Rule not found (HTTP 404)" }).waitFor();
    await dialog().getByRole("button", { name: "Cancel" }).click();
  });

  test("proxy: without a key the page says how to sign in", async () => {
    await page.evaluate(() => sessionStorage.removeItem("buntime-api-key"));
    try {
      await page.goto(`${rt.url}/cpanel/redirects`);
      await frame().getByText("sign in to the admin shell with an API key").waitFor();
    } finally {
      await page.evaluate((key) => sessionStorage.setItem("buntime-api-key", key), rt.masterKey);
    }
  });

  test("proxy: a rule from the manifest is listed first, marked read-only, without controls", async () => {
    // The bundled proxy's manifest with one rule, in the runtime's first plugin dir (which shadows
    // the repo's), and its built UI beside it; a reload loads it.
    const dir = join(rt.dir, "plugins/proxy-static");
    const target = `http://127.0.0.1:${upstream.port}`;
    const manifest = readFileSync(join(REPO, "plugins/plugin-proxy/manifest.yaml"), "utf8")
      .replace(/^rules: \[\]$/m, `rules:\n  - name: e2e static\n    pattern: "^/e2e-static/(.*)$"\n    target: "${target}"\n    rewrite: "/static/$1"`);
    expect(manifest).toContain("name: e2e static");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "manifest.yaml"), manifest);
    await cp(join(REPO, "plugins/plugin-proxy/ui/dist"), join(dir, "ui/dist"), { recursive: true });
    const reload = () => api("/api/plugins/reload", { method: "POST" });
    try {
      expect((await reload()).status).toBe(200);
      expect((await api("/redirects/api/rules", { method: "POST", json: { name: "e2e dynamic", pattern: "^/e2e-dynamic$", target } })).status).toBe(201);
      const listed = await rules();
      expect(listed.map((r) => [r.id, r.name, r.readonly])).toEqual([["static-0", "e2e static", true], [listed[1]!.id, "e2e dynamic", false]]);
      expect((await through("/e2e-static/x")).body.path).toBe("/static/x");

      await open("/cpanel/redirects", "Redirects");
      const rows = frame().getByTestId("rule");
      await expect(rows.nth(0).getByTestId("rule-name").textContent()).resolves.toBe("e2e static");
      await expect(rows.nth(0).getByTestId("static").textContent()).resolves.toBe("static · read-only");
      expect(await rows.nth(0).getByRole("button").count()).toBe(0); // no switch, edit, delete or move
      await expect(rows.nth(0).textContent()).resolves.toContain("From the manifest");
      await expect(rows.nth(1).getByTestId("rule-name").textContent()).resolves.toBe("e2e dynamic");
      expect(await rows.nth(1).getByTestId("static").count()).toBe(0);
      // The first of your rules cannot move above the manifest's.
      await expect(frame().getByRole("button", { name: "Move e2e dynamic up" }).isDisabled()).resolves.toBe(true);
      await expect(frame().getByTestId("rule-count").textContent()).resolves.toStartWith("2 rules: 1 static (read-only), 1 managed here.");
      await snap("redirects-static");
    } finally {
      for (const r of await rules()) if (!r.readonly) await api(`/redirects/api/rules/${r.id}`, { method: "DELETE" });
      await rm(dir, { recursive: true, force: true });
      expect((await reload()).status).toBe(200);
    }
  });

  test("gateway: the request counter and chart move with requests, and recent requests list them", async () => {
    await open("/cpanel/gateway", "Gateway");
    await frame().getByText("Live: updated every second.").waitFor();
    const total = frame().getByTestId("total-requests");
    await page.waitForFunction(() => /^\d[\d,]*$/.test(document.querySelector("iframe")?.contentDocument?.querySelector("[data-testid=total-requests]")?.textContent ?? ""));
    const before = Number((await total.textContent())!.replaceAll(",", ""));
    for (let i = 0; i < 5; i++) expect((await fetch(`${rt.url}/hello/api/greeting`)).status).toBe(200);
    await page.waitForFunction((n) => Number(document.querySelector("iframe")?.contentDocument?.querySelector("[data-testid=total-requests]")?.textContent?.replaceAll(",", "")) >= n + 5, before, { timeout: 10_000 });
    await frame().getByTestId("log-path").filter({ hasText: "/hello/api/greeting" }).first().waitFor();
    // The chart holds points (history, then one a second) and says the last rate.
    await page.waitForFunction(() => Number(document.querySelector("iframe")?.contentDocument?.querySelector("[data-testid=chart-requests]")?.getAttribute("data-points")) >= 2, null, { timeout: 10_000 });
    await expect(frame().getByTestId("chart-requests").locator(".ui-chart-summary").textContent()).resolves.toMatch(/^allowed\/s: [\d.]+ · blocked\/s: [\d.]+$/);
    await snap("gateway-overview");
  });

  test("gateway: a client's bucket is listed and cleared, then every bucket", async () => {
    // Requests from 127.0.0.2: a bucket of their own, that no page load of this test touches.
    for (let i = 0; i < 3; i++) expect(await getFrom("127.0.0.2", `${rt.url}/hello/api/greeting`)).toBe(200);
    const buckets = async () => ((await (await api("/gateway/api/rate-limit/buckets")).json()) as Array<{ key: string }>).map((b) => b.key);
    expect(await buckets()).toContain("ip:127.0.0.2");

    await open("/cpanel/gateway/rate-limit", "Rate limit");
    const row = frame().getByTestId("bucket-key").filter({ hasText: "ip:127.0.0.2" });
    await row.waitFor();
    await expect(frame().getByRole("row").filter({ has: row }).getByTestId("bucket-tokens").textContent()).resolves.toMatch(/^\d+\.\d\d \/ 1000$/);
    await snap("gateway-rate-limit");
    await frame().getByRole("button", { name: "Clear bucket ip:127.0.0.2" }).click();
    await row.waitFor({ state: "detached" });
    await frame().getByText("Cleared ip:127.0.0.2").waitFor();
    expect(await buckets()).not.toContain("ip:127.0.0.2");

    expect(await getFrom("127.0.0.2", `${rt.url}/hello/api/greeting`)).toBe(200);
    await frame().getByRole("button", { name: "Refresh" }).click();
    await row.waitFor();
    await frame().getByRole("button", { name: "Clear all buckets" }).click();
    await dialog().getByRole("button", { name: "Clear all" }).click();
    await frame().getByText(/^Cleared [1-9]\d* buckets?\.$/).waitFor();
    await row.waitFor({ state: "detached" });
    expect(await buckets()).not.toContain("ip:127.0.0.2");
  });

  test("gateway: the request log filters by status class, in the URL", async () => {
    expect((await fetch(`${rt.url}/e2e-no-such-app`)).status).toBe(404);
    await open("/cpanel/gateway/logs", "Request log");
    await frame().getByTestId("log-path").filter({ hasText: "/e2e-no-such-app" }).first().waitFor();
    await frame().getByLabel("Status").selectOption("4");
    await page.waitForURL("**/cpanel/gateway/logs?status=4");
    await page.waitForFunction(() => {
      const statuses = Array.from(document.querySelector("iframe")?.contentDocument?.querySelectorAll("[data-testid=log-status]") ?? []).map((s) => s.textContent ?? "");
      return statuses.length > 0 && statuses.every((s) => s.startsWith("4"));
    });
    await frame().getByTestId("log-path").filter({ hasText: "/e2e-no-such-app" }).first().waitFor();
    await frame().getByLabel("Status").selectOption("5");
    await frame().getByText("No requests match.").waitFor();
    await frame().getByLabel("Status").selectOption("4");
    await frame().getByTestId("log-path").first().waitFor();
    await snap("gateway-logs");
  });

  test("gateway: the shell and CORS pages", async () => {
    await open("/cpanel/gateway/shell", "App shell");
    await frame().getByTestId("shell-off").waitFor(); // no shellDir in the bundled manifest
    await snap("gateway-shell");
    await open("/cpanel/gateway/cors", "CORS");
    await expect(frame().getByTestId("cors").textContent()).resolves.toContain("MethodsGET, HEAD, PUT, PATCH, POST, DELETE");
    await snap("gateway-cors");
  });

  test("gateway: shell excludes are listed, added and removed", async () => {
    // A shadowing copy of the gateway's manifest with the shell on (cpanel, which stays excluded).
    const dir = join(rt.dir, "plugins/gateway-shell");
    const manifest = readFileSync(join(REPO, "plugins/plugin-gateway/manifest.yaml"), "utf8")
      .replace(/^# shellDir: cpanel$/m, "shellDir: cpanel")
      .replace(/^# shellExcludes: .*$/m, 'shellExcludes: "cpanel,e2e-fixed"');
    expect(manifest).toContain("\nshellDir: cpanel\n");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "manifest.yaml"), manifest);
    await cp(join(REPO, "plugins/plugin-gateway/ui/dist"), join(dir, "ui/dist"), { recursive: true });
    const reload = () => api("/api/plugins/reload", { method: "POST" });
    const excludes = async () => (await (await api("/gateway/api/shell/excludes")).json()) as Array<{ basename: string; source: string }>;
    try {
      expect((await reload()).status).toBe(200);
      expect(await excludes()).toEqual([{ basename: "cpanel", source: "env" }, { basename: "e2e-fixed", source: "env" }]);
      await open("/cpanel/gateway/shell", "App shell");
      const names = () => frame().getByTestId("exclude").allTextContents();
      await expect(names()).resolves.toEqual(["cpanel", "e2e-fixed"]);
      expect(await frame().getByRole("button", { name: "Remove e2e-fixed" }).count()).toBe(0); // from the manifest: read-only

      // A name that is not an app name is refused in the page; nothing is sent.
      await frame().getByRole("textbox", { name: "App to exclude" }).fill("no/slashes");
      await frame().getByRole("button", { name: "Add" }).click();
      await frame().getByRole("alert").filter({ hasText: "An app name is letters, digits" }).waitFor();
      expect((await excludes()).length).toBe(2);
      // One the API refuses (already excluded by the manifest) shows its message.
      await frame().getByRole("textbox", { name: "App to exclude" }).fill("e2e-fixed");
      await frame().getByRole("button", { name: "Add" }).click();
      await frame().getByRole("alert").filter({ hasText: "(HTTP 400)" }).waitFor();

      await frame().getByRole("textbox", { name: "App to exclude" }).fill("e2e-docs");
      await frame().getByRole("button", { name: "Add" }).click();
      await frame().getByRole("button", { name: "Remove e2e-docs" }).waitFor();
      await expect(names()).resolves.toEqual(["cpanel", "e2e-fixed", "e2e-docs"]);
      expect((await excludes()).find((x) => x.basename === "e2e-docs")?.source).toBe("keyval");
      await snap("gateway-shell-excludes");

      await frame().getByRole("button", { name: "Remove e2e-docs" }).click();
      await frame().getByRole("button", { name: "Remove e2e-docs" }).waitFor({ state: "detached" });
      expect((await excludes()).map((x) => x.basename)).toEqual(["cpanel", "e2e-fixed"]);
    } finally {
      await api("/gateway/api/shell/excludes/e2e-docs", { method: "DELETE" });
      await rm(dir, { recursive: true, force: true });
      expect((await reload()).status).toBe(200);
    }
  });
});
