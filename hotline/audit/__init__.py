"""Audit log: who did what, when, from which address (logins, user administration, every
state-changing request)."""
