"""The admin UI: server-rendered pages (Jinja2, htmx where it helps) behind a signed session."""
