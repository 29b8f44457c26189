"""The approval pages: server-rendered, signed in with OpenID Connect, on each server's own origin."""
