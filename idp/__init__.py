"""The dev authorization server (OAuth 2.1 and OpenID Connect on authlib): for development, tests and demos only."""
