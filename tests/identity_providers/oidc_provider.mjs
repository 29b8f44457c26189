// globex's identity provider in the tests: `oidc-provider` (panva's certified OpenID Provider, npm),
// configured as a company would configure it. Nobody on this project wrote the protocol side; this file
// only configures it (scripts/oidc-provider.sh installs it into .tools/oidc-provider).
//
//   node oidc_provider.mjs --port 45123 --config globex.json [--rotate-keys]
//
// OIDC_PROVIDER_DIR names the folder whose node_modules holds oidc-provider (.tools/oidc-provider).
//
// The config file (written by tests/identity_providers/provider.py) holds the directory (people with
// UUID subjects, their roles and groups), the registered clients, the resource servers with their
// scopes, and where the signing keys are kept. Everything else is oidc-provider's defaults:
// - keys: RSA, published without `alg` (its default; RFC 7517 makes `alg` optional);
// - tokens: authorization code with PKCE; RFC 8707 resource indicators giving RFC 9068 JWT access
//   tokens whose `aud` is the resource server's URL; `roles` and `groups` added by `extraTokenClaims`;
// - sign-in: `devInteractions` (login and consent forms, plain HTTP, any password).
// `--rotate-keys` puts a new key first (it signs from now on); the old ones stay published, as a
// company rotates: new tokens get the new `kid`, tokens already issued still verify.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// Resolved from the install folder, not from this file's (oidc-provider is an ES module: import() it).
const installed = createRequire(join(process.env.OIDC_PROVIDER_DIR ?? '.', 'package.json'));
const { default: Provider, errors } = await import(pathToFileURL(installed.resolve('oidc-provider')).href);

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    config: { type: 'string' },
    'rotate-keys': { type: 'boolean', default: false },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port < 1 || port > 65535 || !args.config) {
  console.error('usage: node oidc_provider.mjs --port N --config FILE [--rotate-keys]');
  process.exit(2);
}
const config = JSON.parse(readFileSync(args.config, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

function newSigningKey() {
  // exported as a plain JWK: kty, n, e and the private parts, no `alg`, no `kid` (oidc-provider derives it)
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ format: 'jwk' });
}

function signingKeys() {
  const kept = existsSync(config.keys_file) ? JSON.parse(readFileSync(config.keys_file, 'utf8')).keys : [];
  const keys = kept.length === 0 || args['rotate-keys'] ? [newSigningKey(), ...kept] : kept;
  writeFileSync(config.keys_file, JSON.stringify({ keys }), { mode: 0o600 });
  return { keys };
}

const people = config.people; // subject (a UUID) -> { name, preferred_username, email, roles, groups, extra_claims }

function personClaims(subject) {
  const person = people[subject];
  // `extra_claims` is what a misconfigured directory adds (a test's hostile IdP); empty for most people.
  return { roles: person.roles, groups: person.groups, ...person.extra_claims };
}

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: signingKeys(),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  async findAccount(ctx, subject) {
    if (!Object.hasOwn(people, subject)) return undefined; // an unknown login is no one: sign-in again
    const person = people[subject];
    return {
      accountId: subject,
      async claims() {
        return {
          sub: subject,
          name: person.name,
          preferred_username: person.preferred_username,
          email: person.email,
          email_verified: true,
          roles: person.roles,
          groups: person.groups,
        };
      },
    };
  },
  // Which claims each scope releases. `roles` and `groups` go with `openid`, so the ID token of a plain
  // `openid` sign-in carries them (as Okta's groups claim, configured for ID tokens, does).
  claims: {
    openid: ['sub', 'roles', 'groups'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async extraTokenClaims(ctx, token) {
    // Access tokens only: the person's roles and groups (none for a client's own token).
    if (!token.accountId || !Object.hasOwn(people, token.accountId)) return undefined;
    return personClaims(token.accountId);
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined, // no resource asked for: no access token for a resource server
      useGrantedResource: () => true, // the token request may omit `resource` when the grant has one
      async getResourceServerInfo(ctx, resourceIndicator) {
        const scope = config.resources[resourceIndicator];
        if (scope === undefined) throw new errors.InvalidTarget('unknown resource server');
        return { scope, audience: resourceIndicator, accessTokenFormat: 'jwt', accessTokenTTL: 600 };
      },
    },
  },
  ttl: {
    AccessToken: 600,
    AuthorizationCode: 60,
    IdToken: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`); // the Python side waits for discovery, not for this line
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
