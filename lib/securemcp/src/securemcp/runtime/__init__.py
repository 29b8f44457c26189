"""The call runtime: what a tool receives about its caller, and the unit of work of one call.

Public names: `caller.CallerDep` (inject into a tool: the verified identity and its tenant's
database), `caller.Caller`, `caller.ServerState`, `caller.server_lifespan`,
`unit_of_work.CallUnitOfWork`, `unit_of_work.current_call`.

Guarantees: the caller is resolved from the verified identity only (never an argument, never in the
input schema); every database use within one call shares one tenant transaction, and the call's
audit record commits with it; a side effect cannot hold a transaction open while a person decides.
"""
