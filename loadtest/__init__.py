"""`supplychain loadtest`: simulated agents against the four servers, then invariants (docs/reliability.md)."""
