// A real OpenID provider for jitgate's tests: the `oidc-provider` package (a certified OpenID
// Connect implementation we did not write), configured from a JSON file and listening on
// 127.0.0.1 only. testkit/src/oidc.rs starts it.
//
//   node provider.mjs config.json
//   config: { "port": N, "clients": [{ client_id, client_secret, redirect_uris,
//                                       post_logout_redirect_uris? }],
//             "users": [{ sub, email, groups, name }] }
//
// Prints `ready <issuer>` on stdout once it listens; everything else goes to stderr.
// Sign-in uses the package's built-in development login form (the login is the user's email,
// any password). Each start generates a fresh RS256 key with a new `kid`, so restarting the
// peer is how tests rotate the IdP's signing key.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider, { interactionPolicy } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${config.port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  alg: 'RS256',
  use: 'sig',
};

// The account id is the email, because that is what the development login form asks for;
// `sub` comes from the config and deliberately differs, so relying parties that key users by
// `sub` instead of the email claim are caught.
const users = new Map(config.users.map((user) => [user.email, user]));

// The development login form takes any login. Unknown to findAccount, it would get as far as
// the consent step and fail there with a 500; this shows the login form again instead, as a
// real IdP does after a wrong password.
const { base: basePolicy, Check } = interactionPolicy;
const policy = basePolicy();
policy.get('login').checks.add(new Check('unknown_account', 'no such user', (ctx) => (
  ctx.oidc.account ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT)));

// Which claims each scope releases.
const claims = {
  openid: ['sub'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  groups: ['groups'],
};

const provider = new Provider(issuer, {
  // client_id, client_secret, redirect_uris and, for RP-initiated logout (enabled by default:
  // `end_session_endpoint`), post_logout_redirect_uris: the defaults (authorization_code,
  // response type `code`, client_secret_basic) are what a web relying party registers.
  // oidc-provider accepts the secret in the body (client_secret_post) from such a client too.
  clients: config.clients,
  jwks: { keys: [signingKey] },
  // Signed cookies; a random key per start, so a restart also ends every IdP session.
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims,
  // By default (true) the ID token of a code flow carries only `sub` and the rest is left to
  // userinfo. Most IdPs put the scopes' claims in the ID token, and bearer tokens need them.
  conformIdTokenClaims: false,
  // The package's built-in login and consent pages; testkit's `authorize` fills them in.
  features: { devInteractions: { enabled: true } },
  interactions: { policy },
  // Confidential clients would get away without PKCE by default; jitgate must always send it.
  pkce: { required: () => true, methods: ['S256'] },
  // Seconds. Long enough for any test, short enough to look like a real deployment.
  ttl: { AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        const { sub, email, name, groups } = user;
        return { sub, email, email_verified: true, name, groups };
      },
    };
  },
  // The clients are first-party: consent is implied, so grant whatever they ask for and no
  // consent page interrupts the sign-in. Called only once the user has signed in.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.account.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope);
    grant.addOIDCClaims(Object.values(claims).flat());
    await grant.save();
    return grant;
  },
});

// Why a request failed shows up in the test's panic message (the harness keeps this log).
for (const event of ['server_error', 'authorization.error', 'grant.error', 'userinfo.error']) {
  provider.on(event, (ctx, error) => console.error(event, error));
}

const server = provider.listen(config.port, '127.0.0.1', () => console.log(`ready ${issuer}`));
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
