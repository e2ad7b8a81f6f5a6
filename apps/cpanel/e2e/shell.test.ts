/**
 * The admin shell in a real browser against the real runtime: redirect and the landing page (the
 * deployments file manager, or the overview without that plugin), sign-in, sidebar, every page at
 * 375 and 1440 px, deep links and Back, reload, app upload and delete, keys, and the figures.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { setDefaultTimeout } from "bun:test";
import { chromiumAvailable, launch, REPO, screenshotDir, startRuntime, type Runtime, desktopContext } from "./support.ts";

const WIDTHS = [1440, 375] as const;
// Each test drives a real browser against a real runtime on a shared 2-core machine.
setDefaultTimeout(30_000);

describe.skipIf(!chromiumAvailable())("cpanel admin shell", () => {
  let rt: Runtime;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;

  beforeAll(async () => {
    [rt, browser, shots] = await Promise.all([startRuntime(), launch(), screenshotDir()]);
    context = await desktopContext(browser);
    page = await context.newPage();
    console.log(`screenshots: ${shots}`);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
  });

  /** Screenshots the current page at both widths (`name-1440.png`, `name-375.png`). */
  async function snap(name: string) {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: width === 375 ? 812 : 900 });
      await page.waitForTimeout(300); // the drawer's slide-out transition
      await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: 1440, height: 900 });
  }

  async function signIn(key: string) {
    await page.getByLabel("API key").fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
  }

  const heading = () => page.locator("main h1").first();

  /**
   * Waits until the frame shows the deployments file manager at its root, loaded (its own bar
   * names it), and returns what its page says: signed out, that the API key is missing.
   */
  async function deploymentsShown(p: Page = page): Promise<string> {
    await p.waitForFunction(() => {
      const doc = document.querySelector("iframe")?.contentDocument;
      return doc?.querySelector(".ui-plugin-bar strong")?.textContent === "Deployments" && !!doc.querySelector("main:not([aria-busy]) h1");
    }, undefined, { timeout: 10_000 });
    expect(await p.evaluate(() => document.querySelector("iframe")?.contentWindow?.location.pathname)).toBe("/deployments");
    return p.evaluate(() => document.querySelector("iframe")!.contentDocument!.querySelector("main")!.textContent!);
  }

  /**
   * Waits until the embedded demo UI shows `path`, read from the shell's page through the
   * same-origin DOM (Playwright's own frame tracking trips over frames replaced mid-navigation).
   */
  async function frameShows(path: string, p: Page = page) {
    await p.waitForFunction((want) => document.querySelector("iframe")?.contentDocument?.getElementById("where")?.textContent === want, path, { timeout: 10_000 });
  }

  /**
   * Waits until the frame's error names `path`: the previous page's error stays on screen until
   * the new page has answered, and two pages without a UI in a row look alike until then.
   */
  async function frameErrorFor(path: string, p: Page = page) {
    await p.waitForFunction((want) => document.querySelector(".cp-frame-error")?.textContent?.includes(`${want} answered`) ?? false, path, { timeout: 10_000 });
  }

  test("/ redirects to the shell, which lands on the deployments file manager; Back leaves the shell", async () => {
    const res = await fetch(`${rt.url}/`, { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/cpanel");
    await page.goto(`${rt.url}/`);
    await page.waitForURL("**/cpanel/deployments");
    // Its roots are listed with an API key only: this tab has none yet, and the page says so.
    await expect(deploymentsShown()).resolves.toBe("FilesUnauthorized (HTTP 401) — sign in to the admin shell with an API key that may manage apps (editor or admin).");
    // The sidebar marks Deployments, and only it.
    await page.locator("nav.ui-sidebar a[aria-current=page]").filter({ hasText: "Deployments" }).waitFor();
    const current = await page.locator("nav.ui-sidebar a[aria-current=page]").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    expect(current).toEqual(["/cpanel/deployments"]);
    await expect(page.title()).resolves.toBe("deployments · Buntime");

    // The shell's root with a slash lands there too, replacing its own entry: Back does not land
    // again (a loop), it goes to the page before.
    await page.goto(`${rt.url}/cpanel/`);
    await page.waitForURL("**/cpanel/deployments");
    await deploymentsShown();
    await page.goBack();
    await page.waitForURL("**/cpanel/deployments");
    await page.goBack();
    expect(page.url()).toBe("about:blank");
  });

  test("a page behind a key shows Access denied, a wrong key too, and the right key opens it", async () => {
    await page.goto(`${rt.url}/cpanel/~/apps`);
    await expect(heading().textContent()).resolves.toBe("Access denied");
    await expect(page.getByRole("button", { name: "Forget key" }).isVisible()).resolves.toBe(false);
    await expect(page.getByTestId("key-who").textContent()).resolves.toBe("No API key");
    await snap("access-denied");
    await signIn("btk_not-a-real-key");
    await page.getByText("was not accepted here").waitFor();
    await expect(heading().textContent()).resolves.toBe("Access denied");
    await signIn(rt.masterKey);
    await page.getByRole("heading", { name: "Apps", exact: true }).waitFor();
    await expect(page.getByRole("link", { name: "cpanel", exact: true }).count()).resolves.toBe(1);
    expect(await page.evaluate(() => sessionStorage.getItem("buntime-api-key"))).toBe(rt.masterKey);
    await expect(page.getByRole("button", { name: "Forget key" }).isVisible()).resolves.toBe(true);
    await expect(page.getByTestId("key-who").textContent()).resolves.toBe(`API key ${rt.masterKey.slice(0, 8)}…`);
    // Without the authn plugin there is no session to show.
    await expect(page.getByTestId("account").isHidden()).resolves.toBe(true);
  });

  test("the sidebar lists the runtime pages and every loaded plugin's menus, nested, with readable labels", async () => {
    const links = await page.locator("nav.ui-sidebar a").evaluateAll((as) => as.map((a) => ({
      text: a.textContent, href: a.getAttribute("href"), icon: (a.querySelector(".ui-icon") as HTMLElement).dataset.icon, nested: !!a.closest("ul ul"),
    })));
    // The runtime's pages first, then the plugins' menus in load order; the demo plugin's menu
    // shows nesting, an i18n key turned into a label and an unknown icon.
    expect(links.slice(0, 4)).toEqual([
      { text: "Overview", href: "/cpanel/~/health", icon: "heart-pulse", nested: false },
      { text: "Plugins", href: "/cpanel/~/plugins", icon: "puzzle", nested: false },
      { text: "Apps", href: "/cpanel/~/apps", icon: "package", nested: false },
      { text: "API keys", href: "/cpanel/~/keys", icon: "key-round", nested: false },
    ]);
    expect(links).toContainEqual({ text: "Demo", href: "/cpanel/demo", icon: "rocket", nested: false });
    expect(links).toContainEqual({ text: "Second page", href: "/cpanel/demo/second", icon: "unknown", nested: true });
    expect(links).toContainEqual({ text: "Hello", href: "/cpanel/hello", icon: "hand", nested: false });
    const loaded = (await (await fetch(`${rt.url}/api/plugins/loaded`)).json()) as Array<{ name: string; menus: MenuItem[] }>;
    type MenuItem = { path: string; items?: MenuItem[] };
    const paths = (items: MenuItem[]): string[] => items.flatMap((m) => [m.path, ...paths(m.items ?? [])]);
    const fromPlugins = loaded.flatMap((p) => paths(p.menus ?? [])).map((path) => `/cpanel${path}`);
    expect(links.slice(4).map((l) => l.href)).toEqual(fromPlugins);
    expect(loaded.find((p) => p.name === "@buntime/plugin-database")!.menus.map((m) => m.path)).toEqual(["/database"]);
  });

  test("every sidebar item opens its page, marked active, at both widths", async () => {
    const expected: Record<string, (p: Page) => Promise<void>> = {
      "/cpanel/~/health": async (p) => expect(await p.locator("main h1").textContent()).toBe("Overview"),
      "/cpanel/~/plugins": async (p) => expect(await p.locator("main h1").textContent()).toBe("Plugins"),
      "/cpanel/~/apps": async (p) => expect(await p.locator("main h1").first().textContent()).toBe("Apps"),
      "/cpanel/~/keys": async (p) => expect(await p.locator("main h1").textContent()).toBe("API keys"),
      "/cpanel/demo": (p) => frameShows("/demo", p),
      "/cpanel/demo/second": (p) => frameShows("/demo/second", p),
      // The hello plugin has a menu but no UI: its frame says so instead of showing a blank page.
      "/cpanel/hello": async (p) => {
        await frameErrorFor("/hello", p);
        expect(await p.locator(".cp-frame-error").textContent()).toBe("The plugin's UI answered 404/hello answered 404 Not Found. The plugin lists this page in its menus but serves nothing there.");
      },
    };
    // The bundled plugins' UIs (plugins/*/ui): the page heading inside the frame.
    const ui = (text: string) => async (p: Page) => {
      await p.waitForFunction((want) => document.querySelector("iframe")?.contentDocument?.querySelector("main:not([aria-busy]) h1")?.textContent === want, text, { timeout: 10_000 });
    };
    Object.assign(expected, {
      "/cpanel/keyval": ui("KeyVal"), "/cpanel/keyval/entries": ui("Entries"), "/cpanel/keyval/queue": ui("Queue"),
      "/cpanel/keyval/search": ui("Search"), "/cpanel/keyval/watch": ui("Watch"), "/cpanel/keyval/atomic": ui("Atomic"),
      "/cpanel/keyval/metrics": ui("Metrics"), "/cpanel/database": ui("Database"), "/cpanel/database/studio": ui("Studio"),
      "/cpanel/metrics": ui("Metrics"), "/cpanel/metrics/workers": ui("Workers"), "/cpanel/logs": ui("Logs"),
      "/cpanel/redirects": ui("Redirects"), "/cpanel/gateway": ui("Gateway"), "/cpanel/gateway/rate-limit": ui("Rate limit"),
      "/cpanel/gateway/logs": ui("Request log"), "/cpanel/gateway/shell": ui("App shell"), "/cpanel/gateway/cors": ui("CORS"),
    });
    // The deployments file browser, at its base and at each root (the tab is signed in).
    const deployments = ui("Deployments");
    // Bundled plugins without a UI yet get the same explanation as hello.
    const noUi = (path: string) => async (p: Page) => {
      await frameErrorFor(path, p);
      expect(await p.locator(".cp-frame-error").textContent()).toContain(`${path} answered 404`);
    };
    // A section and its first item may share a path (metrics: "Metrics" and "Overview").
    const hrefs = [...new Set(await page.locator("nav.ui-sidebar a").evaluateAll((as) => as.map((a) => a.getAttribute("href")!)))];
    for (const href of hrefs) {
      await page.locator(`nav.ui-sidebar a[href="${href}"]`).first().click();
      await page.waitForURL(`**${href}`);
      await page.waitForFunction(() => !document.querySelector("main[aria-busy]"));
      await (expected[href] ?? (href.startsWith("/cpanel/deployments") ? deployments : noUi(href.slice("/cpanel".length))))(page);
      const current = await page.locator("nav.ui-sidebar a[aria-current=page]").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
      expect(current.length).toBeGreaterThan(0);
      expect(current.every((h) => h === href)).toBe(true);
      await snap(href.replace("/cpanel/", "").replace("~/", "").replaceAll("/", "-"));
    }
    // About 30 pages, each screenshotted at two widths: 28 s on a quiet machine, more inside CI
    // (a test that times out takes the shared browser down with it, failing the rest of the file).
  }, 120_000);

  test("at 375 px the sidebar is a drawer behind the menu button, usable with the keyboard", async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    try {
      await page.goto(`${rt.url}/cpanel/~/health`);
      const toggle = page.getByRole("button", { name: "Menu" });
      // By its href: plugin menus may hold items whose text contains "Plugins" (deployments' roots).
      const plugins = page.locator('nav.ui-sidebar a[href="/cpanel/~/plugins"]');
      await expect(plugins.isVisible()).resolves.toBe(true); // in the DOM, off-screen
      await toggle.focus();
      await page.keyboard.press("Enter");
      await expect(toggle.getAttribute("aria-expanded")).resolves.toBe("true");
      await page.waitForTimeout(250);
      await page.screenshot({ path: join(shots, "sidebar-open-375.png") });
      await plugins.click();
      await page.waitForURL("**/cpanel/~/plugins");
      await expect(toggle.getAttribute("aria-expanded")).resolves.toBe("false");
    } finally {
      // The tests after this one click the sidebar, which is off-screen at this width.
      await page.setViewportSize({ width: 1440, height: 900 });
    }
  });

  test("tabs follow the arrow keys, and the theme follows the system until the toggle picks one", async () => {
    await page.goto(`${rt.url}/cpanel/~/health`);
    await page.getByRole("tab", { name: "Summary" }).focus();
    await page.keyboard.press("ArrowRight");
    await expect(page.getByRole("tab", { name: "Raw answers" }).getAttribute("aria-selected")).resolves.toBe("true");
    const raw = JSON.parse((await page.getByTestId("raw-ready").textContent())!) as { status: string };
    expect(raw.status).toBe("ready");
    await page.keyboard.press("Home");
    await expect(page.getByTestId("status").textContent()).resolves.toBe("ready");

    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.emulateMedia({ colorScheme: "dark" });
    expect(await background()).toBe("rgb(17, 17, 20)");
    await page.screenshot({ path: join(shots, "health-dark-1440.png") });
    await page.getByRole("button", { name: /theme \(change\)/ }).click(); // system → light
    expect(await background()).toBe("rgb(247, 247, 248)");
    await page.reload();
    expect(await background()).toBe("rgb(247, 247, 248)"); // remembered
    await page.getByRole("button", { name: /theme \(change\)/ }).click(); // light → dark
    await page.emulateMedia({ colorScheme: "light" });
    expect(await background()).toBe("rgb(17, 17, 20)");
    await page.getByRole("button", { name: /theme \(change\)/ }).click(); // dark → system
    expect(await background()).toBe("rgb(247, 247, 248)");
  });

  test("deep links open a plugin page, its own navigation updates the shell's URL, and Back walks it back", async () => {
    await page.goto(`${rt.url}/cpanel/demo/second`);
    await frameShows("/demo/second");
    await expect(page.locator("nav.ui-sidebar a[aria-current=page]").textContent()).resolves.toBe("Second page");

    await page.frameLocator("iframe").locator("#to-third").click(); // a full load inside the frame
    await page.waitForURL("**/cpanel/demo/third");
    await frameShows("/demo/third");
    await expect(page.locator("nav.ui-sidebar a[aria-current=page]").textContent()).resolves.toBe("Demo");

    await page.frameLocator("iframe").locator("#to-fourth").click(); // pushState inside the frame
    await page.waitForURL("**/cpanel/demo/fourth");

    await page.goBack();
    await page.waitForURL("**/cpanel/demo/third");
    await frameShows("/demo/third");
    await page.goBack();
    await page.waitForURL("**/cpanel/demo/second");
    await frameShows("/demo/second");

    // Shell to frame: a sidebar click moves the frame; Back brings both back.
    await page.locator('nav.ui-sidebar a[href="/cpanel/~/plugins"]').click();
    await page.waitForURL("**/cpanel/~/plugins");
    await page.goBack();
    await page.waitForURL("**/cpanel/demo/second");
    await frameShows("/demo/second");
    await page.goForward();
    await page.waitForURL("**/cpanel/~/plugins");
    await expect(heading().textContent()).resolves.toBe("Plugins");
  });

  test("a plugin page answering 403 is shown as Access denied in the frame, with a way to retry", async () => {
    const direct = await fetch(`${rt.url}/demo/private`);
    expect(direct.status).toBe(403);
    await page.goto(`${rt.url}/cpanel/demo/private`);
    const box = page.locator(".cp-frame-error");
    await expect(box.locator("h2").textContent()).resolves.toBe("Access denied");
    await expect(box.getByRole("button", { name: "Try again" }).count()).resolves.toBe(1);
    await expect(page.locator("nav.ui-sidebar a[aria-current=page]").textContent()).resolves.toBe("Demo");
    await snap("frame-denied");
    // Moving on to a page that loads clears the message.
    await page.locator('nav.ui-sidebar a[href="/cpanel/demo/second"]').click();
    await frameShows("/demo/second");
    await expect(box.count()).resolves.toBe(0);
  });

  test("Reload on the Plugins page shows the new generation, which the overview then reports", async () => {
    await page.goto(`${rt.url}/cpanel/~/plugins`);
    const before = Number(await (await fetch(`${rt.url}/api/health/ready`)).json().then((r) => (r as { generation: number }).generation));
    await page.getByRole("button", { name: "Reload plugins" }).click();
    const result = page.getByTestId("reload-result");
    await result.getByText(`Reloaded: generation ${before + 1}`).waitFor();
    await expect(page.getByTestId("serving").textContent()).resolves.toEndWith(`Generation ${before + 1}.`);
    await snap("plugins-reloaded");
    await page.locator('nav.ui-sidebar a[href="/cpanel/~/health"]').click();
    await expect(page.getByTestId("generation").textContent()).resolves.toBe(String(before + 1));
    // The result stays on the page for the tab.
    await page.locator('nav.ui-sidebar a[href="/cpanel/~/plugins"]').click();
    await result.getByText(`Reloaded: generation ${before + 1}`).waitFor();

    // A reload that fails lists every problem, and the running generation keeps serving.
    const broken = join(rt.dir, "plugins/broken");
    await Bun.write(join(broken, "manifest.yaml"), 'name: "@e2e/broken"\nbase: "not a base"\nentrypoint: index.html\n');
    await page.getByRole("button", { name: "Reload plugins" }).click();
    await result.getByText(`Reload failed; generation ${before + 1} keeps serving.`).waitFor();
    const problem = result.locator("tbody tr").first();
    await expect(problem.locator("td").nth(0).textContent()).resolves.toBe("@e2e/broken");
    await expect(problem.locator("td").nth(1).textContent()).resolves.toBe("base");
    await expect(problem.locator("td").nth(3).textContent()).resolves.toEndWith("broken/manifest.yaml");
    await snap("plugins-reload-failed");
    await rm(broken, { recursive: true });
    await page.getByRole("button", { name: "Reload plugins" }).click();
    await result.getByText(`Reloaded: generation ${before + 2}`).waitFor();
  });

  test("an uploaded app archive is installed, served at its URL, and its version can be deleted", async () => {
    const src = join(rt.dir, "site");
    await Bun.write(join(src, "package.json"), JSON.stringify({ name: "e2e-site", version: "1.0.0" }));
    await Bun.write(join(src, "index.html"), "<!doctype html><h1>Uploaded from the admin shell</h1>");
    const archive = join(rt.dir, "e2e-site.tar.gz");
    expect(Bun.spawnSync(["tar", "-czf", archive, "-C", src, "package.json", "index.html"]).exitCode).toBe(0);
    await Bun.write(join(rt.dir, "notes.txt"), "not an archive");

    await page.goto(`${rt.url}/cpanel/~/apps`);
    const file = page.getByLabel("Archive (.tar.gz, .tgz or .zip)");
    await file.setInputFiles(join(rt.dir, "notes.txt"));
    await page.getByRole("button", { name: "Upload" }).click();
    const form = new FormData();
    form.append("file", new Blob(["not an archive"]), "notes.txt");
    const refused = (await (await fetch(`${rt.url}/api/apps/upload`, { method: "POST", headers: { "x-api-key": rt.masterKey }, body: form })).json()) as { message: string };
    await expect(page.getByTestId("upload-result").textContent()).resolves.toBe(`Upload failed: ${refused.message}`);

    // Over the runtime's upload limit (100 MiB): the page says so, and nothing is installed.
    const big = join(rt.dir, "big.zip");
    await writeFile(big, Buffer.alloc(100 * 1024 * 1024 + 1));
    await file.setInputFiles(big);
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByTestId("upload-result").getByText("Upload failed: Uploads are limited to 104857600 bytes.").waitFor({ timeout: 20_000 });
    await rm(big);

    await file.setInputFiles(archive);
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByTestId("upload-result").getByText("Installed e2e-site@1.0.0").waitFor();
    await expect(page.locator("progress").getAttribute("value")).resolves.toBe("100");
    await page.getByRole("link", { name: "e2e-site", exact: true }).waitFor();
    const shellRow = page.locator("tbody tr", { hasText: "cpanel" });
    await expect(shellRow.getByText("(this admin shell)").count()).resolves.toBe(1);
    await expect(shellRow.getByRole("button", { name: "Delete" }).count()).resolves.toBe(0);
    await snap("apps-uploaded");

    const served = await context.newPage();
    await served.goto(`${rt.url}/e2e-site@1.0.0`);
    await expect(served.locator("h1").textContent()).resolves.toBe("Uploaded from the admin shell");
    await served.close();

    await page.getByRole("button", { name: "Delete", exact: true }).and(page.locator('[title="Delete e2e-site@1.0.0"]')).click();
    await page.getByRole("dialog").getByRole("button", { name: "Delete" }).click();
    await page.getByText("Deleted e2e-site@1.0.0.").waitFor();
    await expect(page.getByRole("link", { name: "e2e-site", exact: true }).count()).resolves.toBe(0);
    expect((await fetch(`${rt.url}/e2e-site@1.0.0`)).status).toBe(404);
  });

  test("an API key is created with a role and expiry, shown once, listed, works, and is revoked", async () => {
    await page.goto(`${rt.url}/cpanel/~/keys`);
    await page.getByLabel("Name").fill("e2e-viewer");
    await page.getByLabel("Role").selectOption("viewer");
    await page.getByLabel("Expires").selectOption("7d");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = await page.getByTestId("new-key").inputValue();
    expect(secret).toMatch(/^btk_/);
    await page.screenshot({ path: join(shots, "keys-created-1440.png") });
    await page.getByRole("dialog").getByRole("button", { name: "Done" }).click();
    const row = page.locator("tbody tr", { hasText: "e2e-viewer" });
    await expect(row.locator("td").nth(2).textContent()).resolves.toBe("viewer");
    const inAWeek = new Date(Date.now() + 7 * 86_400_000).toLocaleDateString("en-US", { timeZone: "UTC" });
    await expect(row.locator("td").nth(4).textContent()).resolves.toStartWith(inAWeek); // Expires
    await expect(row.locator("td").nth(3).textContent()).resolves.toStartWith(new Date().toLocaleDateString("en-US", { timeZone: "UTC" })); // Created
    await expect(page.getByRole("group", { name: "Permissions (custom role)" }).isVisible()).resolves.toBe(false);
    await page.getByLabel("Role").selectOption("custom");
    await expect(page.getByRole("group", { name: "Permissions (custom role)" }).isVisible()).resolves.toBe(true);
    await page.getByLabel("Role").selectOption("viewer");
    expect(await page.content()).not.toContain(secret); // never shown again
    await snap("keys");

    // The new key works where its role allows, and a refusal shows the runtime's message.
    const viewer = await context.browser()!.newContext();
    const tab = await viewer.newPage();
    await tab.goto(`${rt.url}/cpanel/~/plugins`);
    await tab.evaluate((k) => sessionStorage.setItem("buntime-api-key", k), secret);
    await tab.reload();
    await tab.getByRole("button", { name: "Reload plugins" }).click();
    await expect(tab.getByTestId("reload-result").textContent()).resolves.toBe("Reload refused: Missing permission: plugins:install");

    await row.getByRole("button", { name: "Revoke" }).click();
    await page.keyboard.press("Escape"); // a dialog closes with Escape and changes nothing
    await expect(page.getByRole("dialog").count()).resolves.toBe(0);
    await expect(row.count()).resolves.toBe(1);
    await row.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Revoke" }).click();
    await page.getByText("Revoked e2e-viewer.").waitFor();
    await expect(page.locator("tbody tr", { hasText: "e2e-viewer" }).count()).resolves.toBe(0);

    // A key revoked mid-use: the same page asks to sign in, and comes back after it.
    await tab.goto(`${rt.url}/cpanel/~/keys`);
    await expect(tab.locator("main h1").textContent()).resolves.toBe("Access denied");
    await tab.getByLabel("API key").fill(rt.masterKey);
    await tab.getByRole("button", { name: "Sign in" }).click();
    await tab.getByRole("heading", { name: "API keys" }).waitFor();
    expect(tab.url()).toEndWith("/cpanel/~/keys");
    await viewer.close();
  });

  test("figures: first contentful paint of the shell on a cold cache, and its JS gzipped", async () => {
    const dist = join(import.meta.dir, "../dist");
    const js = readdirSync(dist).filter((f) => f.endsWith(".js"));
    const jsGzip = js.reduce((n, f) => n + Bun.gzipSync(readFileSync(join(dist, f))).length, 0);
    // Five cold loads (a fresh context each: empty cache); the best shows the page's own cost, the
    // median what a busy shared machine adds.
    const fcps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const cold = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const p = await cold.newPage();
      await p.goto(`${rt.url}/cpanel/~/health`, { waitUntil: "load" });
      const fcp = await p.evaluate(() => new Promise<number>((resolve) => {
        const found = () => performance.getEntriesByName("first-contentful-paint")[0]?.startTime;
        const now = found();
        if (now !== undefined) return resolve(now);
        new PerformanceObserver(() => found() !== undefined && resolve(found()!)).observe({ type: "paint", buffered: true });
      }));
      fcps.push(Math.round(fcp));
      await cold.close();
    }
    const sorted = [...fcps].sort((a, b) => a - b);
    const figures = { fcpMs: fcps, fcpBestMs: sorted[0]!, fcpMedianMs: sorted[2]!, jsFiles: js.length, jsGzipBytes: jsGzip };
    console.log("figures:", JSON.stringify(figures));
    await writeFile(join(shots, "figures.json"), `${JSON.stringify(figures, null, 2)}\n`);
    expect(jsGzip).toBeLessThanOrEqual(200 * 1024);
    expect(figures.fcpBestMs).toBeLessThanOrEqual(300);
  }, 60_000);
});

describe.skipIf(!chromiumAvailable())("cpanel admin shell without the deployments plugin", () => {
  let rt: Runtime;
  let browser: Browser;

  beforeAll(async () => {
    [rt, browser] = await Promise.all([
      startRuntime({
        // A disabled copy of the deployments manifest shadows the repo's (a name seen twice keeps the first).
        async prepare(dir) {
          const text = readFileSync(join(REPO, "plugins/plugin-deployments/manifest.yaml"), "utf8");
          expect(text).toMatch(/^enabled: true$/m);
          await mkdir(join(dir, "plugins/plugin-deployments"), { recursive: true });
          await writeFile(join(dir, "plugins/plugin-deployments/manifest.yaml"), text.replace(/^enabled: true$/m, "enabled: false"));
        },
      }),
      launch(),
    ]);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
  });

  test("the shell's root lands on the overview, and the sidebar has no Deployments", async () => {
    const loaded = (await (await fetch(`${rt.url}/api/plugins/loaded`)).json()) as Array<{ name: string }>;
    expect(loaded.map((p) => p.name)).not.toContain("@buntime/plugin-deployments");
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const page = await context.newPage();
      await page.goto(`${rt.url}/`);
      await page.waitForURL("**/cpanel/~/health");
      await expect(page.locator("main h1").first().textContent()).resolves.toBe("Overview");
      await expect(page.getByTestId("status").textContent()).resolves.toBe("ready");
      await expect(page.locator("nav.ui-sidebar a[aria-current=page]").textContent()).resolves.toBe("Overview");
      await page.locator('nav.ui-sidebar a[href="/cpanel/~/plugins"]').waitFor();
      await expect(page.locator('nav.ui-sidebar a[href^="/cpanel/deployments"]').count()).resolves.toBe(0);
      await page.goBack();
      expect(page.url()).toBe("about:blank");
    } finally {
      await context.close();
    }
  });
});
