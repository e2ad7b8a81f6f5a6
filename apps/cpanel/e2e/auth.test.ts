/**
 * The auth plugins' UIs inside the shell, in a real browser against the real runtime with authn and
 * authz on: signing in through authn's login page; authz's policies created (a client-side refusal
 * and the API's own refusal shown in the dialog), listed, edited, judged by the evaluate form
 * (allowed and denied, with the deciding policy) and deleted, each checked over the REST API;
 * authn's sessions listed and one revoked, after which its cookie gets 401; the shell's top bar
 * showing the session, and a session revoked mid-use sending the tab through the login page back to
 * the same shell page. Screenshots at 375 and 1440 px go with the other pages'.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import type { Browser, BrowserContext, FrameLocator, Page } from "playwright-core";
import { ADMIN, startAuthRuntime, type AuthRuntime } from "./auth-runtime.ts";
import { chromiumAvailable, launch, screenshotDir, desktopContext } from "./support.ts";

const WIDTHS = [1440, 375] as const;
setDefaultTimeout(90_000); // the authz test takes up to 30 s inside a CI run on 2 cores

describe.skipIf(!chromiumAvailable())("auth plugin UIs in the admin shell", () => {
  let rt: AuthRuntime;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;

  beforeAll(async () => {
    [rt, browser, shots] = await Promise.all([startAuthRuntime(), launch(), screenshotDir()]);
    context = await desktopContext(browser);
    page = await context.newPage();
    console.log(`screenshots: ${shots}`);
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await rt?.stop();
  });

  const frame = (): FrameLocator => page.frameLocator("iframe");

  async function open(path: string, heading: string) {
    await page.goto(`${rt.url}${path}`);
    await frame().getByRole("heading", { name: heading, exact: true, level: 1 }).waitFor();
    await frame().locator("main:not([aria-busy])").waitFor();
  }

  /** Screenshots `p` at both widths (`name-1440.png`, `name-375.png`): the whole page, or the `only` element. */
  async function snap(name: string, p: Page = page, only?: string) {
    for (const width of WIDTHS) {
      await p.setViewportSize({ width, height: width === 375 ? 812 : 900 });
      await p.waitForTimeout(400);
      const path = join(shots, `${name}-${width}.png`);
      if (only) await p.locator(only).screenshot({ path });
      else await p.screenshot({ path, fullPage: true });
    }
    await p.setViewportSize({ width: 1440, height: 900 });
  }

  /** Fills authn's login page (the browser is on it) and signs in. */
  async function logIn(p: Page) {
    await p.getByLabel("Email").first().fill(ADMIN.email);
    await p.getByLabel("Password").first().fill(ADMIN.password);
    await p.getByRole("button", { name: "Sign in with Email" }).click();
  }

  /** The REST API as the signed-in browser (its cookies). */
  async function asBrowser(path: string, init: RequestInit = {}) {
    const cookies = await context.cookies(rt.url);
    const cookie = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
    return fetch(`${rt.url}${path}`, { ...init, headers: { accept: "application/json", cookie, ...(init.headers as Record<string, string> | undefined) } });
  }

  test("authn: a signed-out visitor is sent to the login page and comes back to the shell signed in", async () => {
    await page.goto(`${rt.url}/cpanel/auth/sessions`);
    expect(new URL(page.url()).pathname).toBe("/auth/login");
    await page.getByLabel("Email").first().fill(ADMIN.email);
    await page.getByLabel("Password").first().fill(ADMIN.password);
    await page.getByRole("button", { name: "Sign in with Email" }).click();
    await page.waitForURL(`${rt.url}/cpanel/auth/sessions`);
    await frame().getByRole("heading", { name: "Sessions", exact: true, level: 1 }).waitFor();
    await expect(frame().getByTestId("who").textContent()).resolves.toContain(`Signed in as ${ADMIN.name} <${ADMIN.email}> · roles admin`);
    // The sidebar lists both plugins' pages.
    await page.getByRole("link", { name: "Sessions" }).first().waitFor();
    await page.getByRole("link", { name: "Policies" }).first().waitFor();
  });

  test("shell: the top bar shows the signed-in user; a session revoked mid-use goes back to sign-in and returns to the same page", async () => {
    const ctx = await desktopContext(browser);
    try {
      const p = await ctx.newPage();
      const bar = p.locator("header.ui-topbar");
      /** Waits for authn's login page, asked to come back to `back` (however the query is escaped). */
      const onLoginPage = async (back: string) => {
        await p.waitForURL((u) => u.pathname === "/auth/login");
        expect(new URL(p.url()).searchParams.get("redirect")).toBe(back);
        await p.getByRole("button", { name: "Sign in with Email" }).waitFor();
      };
      /** This browser's session over the API (its cookies), or null. */
      const sessionNow = async () => {
        const cookie = (await ctx.cookies(rt.url)).map((c) => `${c.name}=${c.value}`).join("; ");
        return (await (await fetch(`${rt.url}/auth/api/session`, { headers: { cookie } })).json()) as { session: { id: string } } | null;
      };
      /** Ends this browser's session from elsewhere: DELETE /auth/api/sessions/{id}, as another of the user's browsers. */
      const revoke = async (): Promise<void> => {
        const id = (await sessionNow())!.session.id;
        const other = await rt.signIn("e2e-revoker/1.0");
        const res = await fetch(`${rt.url}/auth/api/sessions/${id}`, { method: "DELETE", headers: { cookie: other.cookie, origin: rt.url } });
        expect(res.status).toBeLessThan(300);
        expect(await sessionNow()).toBeNull();
        // The other browser signs out too, leaving the user's session list as it was.
        const out = await fetch(`${rt.url}/auth/api/auth/sign-out`, { method: "POST", headers: { cookie: other.cookie, origin: rt.url } });
        expect(out.status).toBe(200);
      };

      // Signed out, the shell's root goes to the login page, and back to the landing page after it.
      await p.goto(`${rt.url}/cpanel/`);
      await onLoginPage("/cpanel/");
      await logIn(p);
      await p.waitForURL(`${rt.url}/cpanel/deployments`);
      await bar.getByTestId("session-user").filter({ hasText: ADMIN.name }).waitFor();
      await expect(bar.getByTestId("session-user").getAttribute("title")).resolves.toBe(`Signed in as ${ADMIN.email}`);
      await expect(bar.getByRole("link", { name: "Sign out" }).getAttribute("href")).resolves.toBe(`/auth/api/logout?redirect=${encodeURIComponent("/cpanel/deployments")}`);
      await expect(bar.getByTestId("key-who").textContent()).resolves.toBe("No API key");

      // The REST API still wants a key: with a session, a 401 there is the key form, not the login page.
      await p.locator('nav.ui-sidebar a[href="/cpanel/~/apps"]').click();
      await p.getByRole("heading", { name: "Access denied" }).waitFor();
      expect(p.url()).toBe(`${rt.url}/cpanel/~/apps`);
      await p.getByLabel("API key").fill(rt.masterKey);
      await p.getByRole("button", { name: "Sign in" }).click();
      await p.getByRole("heading", { name: "Apps", exact: true }).waitFor();
      // Both are shown, apart: the user of the session and the key of the tab.
      await expect(bar.getByTestId("session-user").textContent()).resolves.toBe(ADMIN.name);
      await expect(bar.getByTestId("key-who").textContent()).resolves.toBe(`API key ${rt.masterKey.slice(0, 8)}…`);
      await expect(bar.getByRole("link", { name: "Sign out" }).getAttribute("href")).resolves.toBe(`/auth/api/logout?redirect=${encodeURIComponent("/cpanel/~/apps")}`);
      await snap("session-bar", p, "header.ui-topbar");
      await snap("session-apps", p);

      // The session is revoked elsewhere. The key still opens the runtime's pages, and the bar
      // now offers to sign in (back to this page)…
      await revoke();
      await p.locator('nav.ui-sidebar a[href="/cpanel/~/health"]').click();
      await p.getByTestId("status").waitFor();
      await expect(bar.getByRole("link", { name: "Sign in" }).getAttribute("href")).resolves.toBe(`/auth/login?redirect=${encodeURIComponent("/cpanel/~/health")}`);
      await expect(bar.getByTestId("session-user").count()).resolves.toBe(0);
      await snap("session-bar-signed-out", p, "header.ui-topbar");
      // Sign in there comes back to this page, signed in.
      await bar.getByRole("link", { name: "Sign in" }).click();
      await onLoginPage("/cpanel/~/health");
      await logIn(p);
      await p.waitForURL(`${rt.url}/cpanel/~/health`);
      await bar.getByTestId("session-user").filter({ hasText: ADMIN.name }).waitFor();
      await revoke();

      // …and the next plugin page, which the gate refuses, sends the tab to the login page, which
      // comes back to that page.
      await p.locator('nav.ui-sidebar a[href="/cpanel/authz/policies"]').click();
      await onLoginPage("/cpanel/authz/policies");
      await logIn(p);
      await p.waitForURL(`${rt.url}/cpanel/authz/policies`);
      await p.frameLocator("iframe").getByRole("heading", { name: "Policies", exact: true, level: 1 }).waitFor();
      await bar.getByTestId("session-user").filter({ hasText: ADMIN.name }).waitFor();

      // A runtime page's 401 with the session gone goes to the login page too (this tab forgets its key).
      await bar.getByRole("button", { name: "Forget key" }).click();
      await revoke();
      await p.locator('nav.ui-sidebar a[href="/cpanel/~/keys"]').click();
      await onLoginPage("/cpanel/~/keys");
      await logIn(p);
      await p.waitForURL(`${rt.url}/cpanel/~/keys`);
      // Back with a session but no key: the key form, on the same page.
      await p.getByRole("heading", { name: "Access denied" }).waitFor();
      await bar.getByTestId("session-user").filter({ hasText: ADMIN.name }).waitFor();

      // Sign out ends the session and comes back here, which (signed out) is the login page.
      await bar.getByRole("link", { name: "Sign out" }).click();
      await onLoginPage("/cpanel/~/keys");
      expect(await sessionNow()).toBeNull();
    } finally {
      await ctx.close();
    }
  });

  test("authz: create a policy (refusals shown in the dialog), list, edit, evaluate and delete it", async () => {
    await open("/cpanel/authz", "Authorization");
    await expect(frame().getByTestId("total").textContent()).resolves.toBe("2"); // the two seeds
    await snap("authz-overview");

    await open("/cpanel/authz/policies", "Policies");
    const row = (id: string) => frame().getByRole("row").filter({ has: frame().getByTestId("policy").filter({ hasText: id }) });
    await row("admin-full-access").getByText("role admin").waitFor();

    await frame().getByRole("button", { name: "New policy" }).click();
    const dialog = frame().getByRole("dialog");
    await dialog.getByLabel("ID", { exact: true }).fill("e2e-reports");
    await dialog.getByLabel("Name", { exact: true }).fill("Auditors read reports");
    await dialog.getByLabel("Priority").fill("50");
    await dialog.getByLabel("Subjects (JSON list)").fill('[{"role": "auditor"');
    await dialog.getByLabel("Resources (JSON list)").fill('[{"path": "/reports/**"}]');
    await dialog.getByLabel("Actions (JSON list)").fill('[{"method": "GET"}]');
    // Not JSON: refused before anything is sent.
    await dialog.getByRole("button", { name: "Create" }).click();
    await expect(dialog.getByRole("alert").textContent()).resolves.toContain("Subjects is not valid JSON");
    expect((await asBrowser("/authz/api/policies/e2e-reports")).status).toBe(404);
    // Well-formed, but the plugin refuses the address: its message, naming the field, is shown.
    await dialog.getByLabel("Subjects (JSON list)").fill('[{"role": "auditor"}]');
    await dialog.getByLabel("Conditions (JSON list)").fill('[{"type": "ip", "allowlist": ["10.0.0.300"]}]');
    await dialog.getByRole("button", { name: "Create" }).click();
    await dialog.getByRole("alert").filter({ hasText: "`conditions[0].allowlist[0]`" }).waitFor();
    await expect(dialog.getByRole("alert").textContent()).resolves.toContain("Invalid policy structure — `conditions[0].allowlist[0]`: `10.0.0.300` is not an IP address or CIDR range");
    expect((await asBrowser("/authz/api/policies/e2e-reports")).status).toBe(404);
    await snap("authz-policy-refused");
    await dialog.getByLabel("Conditions (JSON list)").fill("[]");
    await dialog.getByRole("button", { name: "Create" }).click();
    await dialog.waitFor({ state: "detached" });

    // Listed in evaluation order (after the seeds' 100 and 90), and stored as sent.
    await row("e2e-reports").getByText("role auditor").waitFor();
    await expect(row("e2e-reports").getByText("path /reports/**").count()).resolves.toBe(1);
    const ids = await frame().getByTestId("policy").locator("code").allTextContents();
    expect(ids).toEqual(["admin-full-access", "users-read-only", "e2e-reports"]);
    const stored = await asBrowser("/authz/api/policies/e2e-reports");
    expect(stored.status).toBe(200);
    expect(await stored.json()).toEqual({
      id: "e2e-reports", name: "Auditors read reports", effect: "permit", priority: 50,
      subjects: [{ role: "auditor" }], resources: [{ path: "/reports/**" }], actions: [{ method: "GET" }],
    });

    // Edit: the ID stays, the priority changes (and so the order).
    await frame().getByRole("button", { name: "Edit e2e-reports" }).click();
    await expect(dialog.getByLabel("ID", { exact: true }).getAttribute("readonly")).resolves.not.toBeNull();
    await dialog.getByLabel("Priority").fill("95");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.waitForFunction(() => {
      const codes = Array.from(document.querySelector("iframe")?.contentDocument?.querySelectorAll("[data-testid=policy] code") ?? []).map((c) => c.textContent);
      return codes.join(",") === "admin-full-access,e2e-reports,users-read-only";
    });
    expect(((await (await asBrowser("/authz/api/policies/e2e-reports")).json()) as { priority: number }).priority).toBe(95);
    await snap("authz-policies");

    // Evaluate: an auditor reading a report is allowed by the new policy…
    await open("/cpanel/authz/evaluate", "Evaluate");
    await frame().getByLabel("Subject ID").fill("carol");
    await frame().getByLabel("Roles").fill("auditor");
    await frame().getByLabel("Path").fill("/reports/q1");
    await frame().getByLabel("Method").selectOption("GET");
    await frame().getByRole("button", { name: "Evaluate" }).click();
    const decision = frame().getByTestId("decision");
    await decision.getByRole("heading", { name: "Allowed" }).waitFor();
    await expect(decision.getByTestId("effect").textContent()).resolves.toBe("permit");
    await expect(decision.getByTestId("matched").textContent()).resolves.toBe("Decided by policy e2e-reports (Auditors read reports), priority 95.");
    await frame().getByRole("row").filter({ hasText: "e2e-reports" }).getByText("applies: permit").waitFor();
    // The form is in the URL: a deep link to the question.
    expect(page.url()).toContain("roles=auditor");
    await snap("authz-evaluate");

    // …and denied for a write, which no policy permits.
    await frame().getByLabel("Method").selectOption("POST");
    await frame().getByRole("button", { name: "Evaluate" }).click();
    await decision.getByRole("heading", { name: "Denied" }).waitFor();
    await expect(decision.getByTestId("reason").textContent()).resolves.toBe("No applicable policy");
    await expect(decision.getByTestId("matched").textContent()).resolves.toBe("No policy decided: this is the default effect.");
    await frame().getByRole("row").filter({ hasText: "e2e-reports" }).getByText("no action matcher matches").waitFor();

    // Delete after a confirmation.
    await open("/cpanel/authz/policies", "Policies");
    await frame().getByRole("button", { name: "Delete e2e-reports" }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await row("e2e-reports").waitFor({ state: "detached" });
    expect((await asBrowser("/authz/api/policies/e2e-reports")).status).toBe(404);
  });

  test("authn: the sessions page lists this browser's session and another, and revoking that one signs it out", async () => {
    const other = await rt.signIn();
    expect((await fetch(`${rt.url}/auth/api/sessions`, { headers: { cookie: other.cookie } })).status).toBe(200);

    await open("/cpanel/auth/sessions", "Sessions");
    const sessions = frame().getByTestId("session");
    await expect(sessions.count()).resolves.toBe(2);
    await expect(frame().getByTestId("current").count()).resolves.toBe(1);
    const otherRow = frame().getByRole("row").filter({ has: frame().getByTestId("session-id").filter({ hasText: other.sessionId }) });
    await otherRow.getByText("e2e-second-browser/1.0").waitFor();
    await snap("authn-sessions");

    await frame().getByRole("button", { name: `Revoke session ${other.sessionId}` }).click();
    const dialog = frame().getByRole("dialog");
    await dialog.getByRole("heading", { name: "Revoke this session?" }).waitFor();
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await otherRow.waitFor({ state: "detached" });
    await expect(sessions.count()).resolves.toBe(1);

    // The revoked cookie's next request is refused; this browser's session goes on.
    const refused = await fetch(`${rt.url}/auth/api/sessions`, { headers: { cookie: other.cookie } });
    expect(refused.status).toBe(401);
    expect((await asBrowser("/auth/api/sessions")).status).toBe(200);

    // Revoking this browser's own session signs it out here: the page says so, and its cookie is dead.
    const mine = (await context.cookies(rt.url)).find((c) => c.name === "buntime.session_token")!;
    await frame().getByRole("button", { name: /^Sign out session / }).click();
    await dialog.getByRole("heading", { name: "Sign out this browser?" }).waitFor();
    await dialog.getByRole("button", { name: "Revoke" }).click();
    await frame().getByTestId("signed-out").waitFor();
    expect((await fetch(`${rt.url}/auth/api/sessions`, { headers: { cookie: `${mine.name}=${mine.value}` } })).status).toBe(401);

    // Signed out, the page says so and links to the login page.
    const fresh = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const p = await fresh.newPage();
    await p.goto(`${rt.url}/auth/sessions`);
    await p.getByTestId("signed-out").waitFor();
    expect(await p.getByRole("link", { name: "Sign in" }).getAttribute("href")).toBe("login?redirect=%2Fauth%2Fsessions");
    await p.screenshot({ path: join(shots, "authn-signed-out-1440.png") });
    await fresh.close();
  });
});
