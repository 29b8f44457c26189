"""Who is calling: a verified bearer token, or the configured local identity, becomes an `Identity`.

Public names:
- `principal.Identity`, `identity_from_claims`, `identity_from_roles`, `local_identity_from_env`,
  `IdentityError`;
- `tokens.JWTVerifier` (the MCP SDK's `TokenVerifier`), `tokens.RevocationList`, `tokens.discover`;
- `keys.KeySet` (the issuer's JWKS, cached and refreshed);
- `resource_server.resource_server_auth` (RFC 9728 metadata), `request_state_security`.

Guarantees: a token is accepted only with a valid signature by a key of the configured issuer
(asymmetric algorithms only, the algorithm pinned per key), unexpired, for this server's audience,
not revoked; tenant and user come only from it (or, over stdio, from the configured local
identity), never from arguments or headers; its scopes are cut to what its roles allow.
"""
