"""Tickets (工单) and grid cases (案卷): closed-loop workflow, persistence and audit trail (design §3–4)."""
