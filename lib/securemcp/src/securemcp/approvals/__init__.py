"""Human approval of side effects, at the level each tool declares: confirm, verified, four_eyes.

Public names: `answer.ConfirmAnswer`, `answer.require_approval`, `paths.seek_approval` (ask in band,
or record a pending approval and send the person to its page), `pending.Question`,
`pending.get_approval`, `decisions.decide`, `pages.app.approval_pages`.

Guarantees: no side effect runs without a person's yes at its level; the question is built from
trusted fields only, outside text kept in its own fenced block; `verified` needs the requester's
fresh sign-in on the server's own page and `four_eyes` another person of the tenant holding
`<server>:decide`; an approval runs once, as the requester, with exactly the recorded arguments.
"""
