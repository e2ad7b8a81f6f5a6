// A real OpenID Provider (the `oidc-provider` package) for plugin-authn's OIDC tests, started by
// plugins/plugin-authn/tests/oidc.rs and crates/buntime-cli/tests/oidc.rs on 127.0.0.1.
//
// Environment:
//   OIDC_PORT                       port to listen on (0 or unset: any free one)
//   OIDC_CLIENT_ID / _SECRET        the one confidential client (client_secret_basic)
//   OIDC_REDIRECT_URIS              comma-separated redirect URIs registered for it
//   OIDC_POST_LOGOUT_REDIRECT_URIS  comma-separated post-logout redirect URIs
//   OIDC_ID_TOKEN_CLAIMS=1          put email/name in the ID token too (default: userinfo only,
//                                   oidc-provider's conforming behaviour)
//
// Prints one JSON line `{"ready":true,"issuer":"http://127.0.0.1:<port>"}` once listening.
//
// The login page (oidc-provider's development interactions) accepts any login and password. The
// account's `sub` is the login; its email is the login (or `<login>@example.com` without an `@`),
// verified unless the login starts with `unverified`. The `roles` scope adds Keycloak-style
// `realm_access` and `resource_access` claims.
//
// Test-only control, for attack tests: `POST /__test/tamper` with a JSON body makes the NEXT
// token response carry a rewritten ID token, re-signed with the provider's own key (or, with
// `"foreignKey": true`, with another key under the same `kid`):
//   {"set": {"aud": "someone-else"}, "unset": ["nonce"], "foreignKey": false}
// `GET /__test/stats` answers `{"discoveries": N}`: how often the discovery document was read.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type JWK } from "jose";
import Provider, { type Configuration, type KoaContextWithOIDC } from "oidc-provider";

type Tamper = { set?: Record<string, unknown>; unset?: string[]; foreignKey?: boolean };

const list = (v: string | undefined): string[] =>
  (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);

const KID = "test-key-1";
const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signingJwk: JWK = { ...(await exportJWK(privateKey)), kid: KID, alg: "RS256", use: "sig" };
const foreign = (await generateKeyPair("RS256", { extractable: true })).privateKey;

let tamper: Tamper | null = null;
let discoveries = 0;

const server = createServer();
await new Promise<void>((resolve) => server.listen(Number(process.env.OIDC_PORT ?? 0), "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const idTokenClaims = process.env.OIDC_ID_TOKEN_CLAIMS === "1";

const configuration: Configuration = {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID ?? "buntime",
      client_secret: process.env.OIDC_CLIENT_SECRET ?? "buntime-secret",
      redirect_uris: list(process.env.OIDC_REDIRECT_URIS),
      post_logout_redirect_uris: list(process.env.OIDC_POST_LOGOUT_REDIRECT_URIS),
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: { keys: [signingJwk] },
  // Every flow must carry PKCE (S256), so a relying party that forgets it fails here.
  pkce: { required: () => true },
  // `roles` mimics Keycloak's client scope of that name (realm and per-client roles).
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], roles: ["realm_access", "resource_access"] },
  conformIdTokenClaims: !idTokenClaims,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ["oidc-e2e-cookie-key-0123456789"] },
  async findAccount(_ctx: KoaContextWithOIDC, sub: string) {
    const email = sub.includes("@") ? sub : `${sub}@example.com`;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email,
          email_verified: !sub.startsWith("unverified"),
          name: `User ${sub.split("@")[0]}`,
          realm_access: { roles: ["user"] },
          resource_access: { buntime: { roles: ["deployer"] }, "another-client": { roles: ["not-ours"] } },
        };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);

provider.use(async (ctx, next) => {
  if (ctx.path === "/.well-known/openid-configuration") discoveries += 1;
  if (ctx.path === "/__test/stats") {
    ctx.body = { discoveries };
    return;
  }
  if (ctx.path === "/__test/tamper" && ctx.method === "POST") {
    const chunks: Buffer[] = [];
    for await (const c of ctx.req) chunks.push(c as Buffer);
    tamper = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Tamper;
    ctx.status = 204;
    return;
  }
  await next();
  const body = ctx.body as { id_token?: string } | undefined;
  if (ctx.path === "/token" && tamper && body && typeof body.id_token === "string") {
    const t = tamper;
    tamper = null;
    const claims: Record<string, unknown> = { ...decodeJwt(body.id_token), ...(t.set ?? {}) };
    for (const k of t.unset ?? []) delete claims[k];
    body.id_token = await new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: KID, typ: "JWT" })
      .sign(t.foreignKey ? foreign : privateKey);
  }
});

server.on("request", provider.callback());
console.log(JSON.stringify({ ready: true, issuer }));
