"""payments: the requester's person on pending approvals, and the approval pages' sessions on the server

Revision ID: payments_0002_page_sessions
Revises: payments_0001_initial
Create Date: 2026-12-07

securemcp 1.1: four eyes and `verified` compare one person across clients (pairwise subjects), and a
page session lives in the database, so signing out (or `end_page_sessions`) ends it for every copy
of its cookie.
"""

from securemcp.schema.tables import add_people_and_page_sessions

revision = "payments_0002_page_sessions"
down_revision = "payments_0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_people_and_page_sessions("payments")


def downgrade() -> None:
    raise NotImplementedError("sessions and the requester's person are not dropped by a migration")
