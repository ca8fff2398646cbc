"""Web tier: FastAPI app, pages (Jinja2) and REST API."""
