/**
 * The runtime of `support.ts` with the auth plugins on (they ship disabled): authn (cheap argon2
 * for a debug build, SCIM on) and authz (its seeded policies), and an admin provisioned the way an
 * identity provider would, over SCIM with role `admin` (which the seeded `admin-full-access` permits).
 */
import { cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { REPO, startRuntime, type Runtime } from "./support.ts";

export const ADMIN = { email: "ada.admin@e2e.test", password: "correct-horse-battery-staple", name: "Ada Admin" };

export interface AuthRuntime extends Runtime {
  /** Signs `ADMIN` in over the API (another browser, as far as the runtime knows): its cookie and session id. */
  signIn(userAgent?: string): Promise<{ cookie: string; sessionId: string }>;
}

export async function startAuthRuntime(): Promise<AuthRuntime> {
  const rt = await startRuntime({
    async prepare(dir) {
      for (const name of ["plugin-authn", "plugin-authz"]) {
        let text = await readFile(join(REPO, "plugins", name, "manifest.yaml"), "utf8");
        text = text.replace(/^enabled: false$/m, "enabled: true");
        if (name === "plugin-authn") {
          text = text.replace("memoryKib: 19456", "memoryKib: 1024").replace(/^(scim:\n {2}enabled:) false$/m, "$1 true");
        }
        await mkdir(join(dir, "plugins", name, "ui"), { recursive: true });
        await writeFile(join(dir, "plugins", name, "manifest.yaml"), text);
        // A plugin UI is served from its own dir only (a link out of it is refused).
        await cp(join(REPO, "plugins", name, "ui/dist"), join(dir, "plugins", name, "ui/dist"), { recursive: true });
      }
    },
  });
  try {
    const token = await fetch(`${rt.url}/auth/api/scim/tokens`, {
      method: "POST",
      headers: { "x-api-key": rt.masterKey, "content-type": "application/json" },
      body: JSON.stringify({ name: "e2e" }),
    });
    if (token.status !== 201) throw new Error(`SCIM token: ${token.status} ${await token.text()}`);
    const { token: bearer } = (await token.json()) as { token: string };
    const user = await fetch(`${rt.url}/auth/api/scim/v2/Users`, {
      method: "POST",
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/scim+json" },
      body: JSON.stringify({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: ADMIN.email, displayName: ADMIN.name, password: ADMIN.password, roles: [{ value: "admin" }],
      }),
    });
    if (user.status !== 201) throw new Error(`SCIM user: ${user.status} ${await user.text()}`);
  } catch (e) {
    await rt.stop();
    throw e;
  }
  return {
    ...rt,
    async signIn(userAgent = "e2e-second-browser/1.0") {
      const res = await fetch(`${rt.url}/auth/api/auth/sign-in/email`, {
        method: "POST",
        headers: { "content-type": "application/json", "user-agent": userAgent },
        body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
      });
      if (res.status !== 200) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { session: { id: string } };
      const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]!).find((c) => c.startsWith("buntime.session_token="));
      if (!cookie) throw new Error("sign-in set no session cookie");
      return { cookie, sessionId: body.session.id };
    },
  };
}
