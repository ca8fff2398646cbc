"""The API tests' server state and logged-in clients (tests/api/conftest.py) for the report pages."""

from tests.api.conftest import _cheap_password_hashing, api_state, app, client_for  # noqa: F401
