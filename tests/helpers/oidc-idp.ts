// A real OpenID Connect provider for tests (oidc-provider, the certified Node implementation),
// with its development login form: any login name signs in as that account.
import Provider from "oidc-provider";
import type { Server } from "node:http";

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  close(): Promise<void>;
}

/**
 * `claimsFor` may replace the claims of particular login names (e.g. an unverified e-mail); by
 * default login `x` is subject `x` with the verified e-mail `x@Institute.test`.
 */
export async function startTestIdp(port: number, redirectUri: string, claimsFor?: (login: string) => Record<string, unknown> | undefined): Promise<TestIdp> {
  const issuer = `http://localhost:${port}`;
  const clientId = "atrium-portal";
  const clientSecret = "test-secret-0123456789abcdef0123456789";
  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri], grant_types: ["authorization_code"], response_types: ["code"] }],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name", "given_name", "family_name", "preferred_username"] },
    // Keycloak, Entra ID and Google put the requested claims in the id token too.
    conformIdTokenClaims: false,
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return claimsFor?.(id) ?? { sub: id, email: `${id}@Institute.test`, email_verified: true, name: `${id[0]!.toUpperCase()}${id.slice(1)} Example` };
        },
      };
    },
    cookies: { keys: ["atrium-test-idp-cookie-key"] },
    features: { devInteractions: { enabled: true } },
  });
  const server: Server = await new Promise((resolve) => {
    const s = provider.listen(port, () => resolve(s));
  });
  return {
    issuer,
    clientId,
    clientSecret,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
