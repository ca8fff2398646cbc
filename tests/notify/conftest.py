"""The notices tests share the users tests' server state (tests/users/conftest.py)."""

from tests.users.conftest import _cheap_password_hashing, app, client_for, state  # noqa: F401
