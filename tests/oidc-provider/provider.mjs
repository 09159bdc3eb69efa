// A local OpenID Provider for Keel's OIDC tests, built on the certified `oidc-provider` package.
//
// One confidential client (client_secret_basic, authorization_code, response type `code`,
// PKCE S256 required), the built-in development login and consent pages (any login name, any
// password), and accounts whose claims follow from the login name:
//
//   sub = login, email = `${login}@example.test`, email_verified = true, name,
//   groups: alice -> ["keel-admins"], bob -> ["keel-support"], anyone else -> [].
//
// The `groups` scope carries the `groups` claim. With conformIdTokenClaims off (the default
// here) every claim the granted scopes cover is put in the ID token; CONFORM_ID_TOKEN_CLAIMS=1
// turns it on, and then the ID token holds only `sub` (and the protocol claims) while email,
// name and groups come from the userinfo endpoint.
//
// ID tokens are signed RS256 with a key generated at start; its public half is served at
// /jwks. Nothing is stored: grants, sessions and codes live in memory and die with the process.
//
// Environment:
//   PORT           port to listen on (0 = any free port; default 4100)
//   HOST           address to bind (default 127.0.0.1)
//   ISSUER         issuer identifier (default http://127.0.0.1:<bound port>)
//   CLIENT_ID      default "keel"
//   CLIENT_SECRET  default "keel-test-secret"
//   REDIRECT_URI   the client's only redirect URI
//                  (default http://127.0.0.1:8080/v1/admin/auth/oidc/corp/callback)
//   CONFORM_ID_TOKEN_CLAIMS  "1" to keep scope claims out of the ID token
//
// Once it accepts connections it prints exactly one line to stdout, `listening on <issuer>`.
// It exits on SIGTERM or SIGINT.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

// stdout carries only the ready line: the library's notices go to stderr, and a closed stdout
// or stderr pipe (a test that stopped reading) is not an error.
console.log = console.error;
console.info = console.error;
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const PORT = Number.parseInt(process.env.PORT ?? '4100', 10);
const HOST = process.env.HOST ?? '127.0.0.1';
const CLIENT_ID = process.env.CLIENT_ID ?? 'keel';
const CLIENT_SECRET = process.env.CLIENT_SECRET ?? 'keel-test-secret';
const REDIRECT_URI = process.env.REDIRECT_URI
  ?? 'http://127.0.0.1:8080/v1/admin/auth/oidc/corp/callback';
const CONFORM = process.env.CONFORM_ID_TOKEN_CLAIMS === '1';

const GROUPS = {
  alice: ['keel-admins'],
  bob: ['keel-support'],
};

function claimsFor(login) {
  return {
    sub: login,
    email: `${login}@example.test`,
    email_verified: true,
    name: login.charAt(0).toUpperCase() + login.slice(1),
    groups: GROUPS[login] ?? [],
  };
}

// The request handler is swapped in once the provider exists: the issuer may depend on the
// port the server was given.
let handler = (_req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}`;

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = {
    ...privateKey.export({ format: 'jwk' }),
    kid: `keel-test-${randomBytes(4).toString('hex')}`,
    alg: 'RS256',
    use: 'sig',
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        redirect_uris: [REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    conformIdTokenClaims: CONFORM,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      Grant: 600,
      IdToken: 600,
      Interaction: 600,
      Session: 600,
    },
    // Errors as JSON, so a test can read what went wrong.
    async renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
    features: {
      devInteractions: { enabled: true },
    },
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          return claimsFor(id);
        },
      };
    },
  });

  const callback = provider.callback();
  handler = (req, res) => callback(req, res);
  process.stdout.write(`listening on ${issuer}\n`);
});
