"""The dev authorization server (OAuth 2.1 on authlib): for development, tests and demos only."""
