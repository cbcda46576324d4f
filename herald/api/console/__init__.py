"""The web console at `/console`: server-rendered pages (Jinja2) with a little vanilla
JavaScript, signed in with the account's credentials, acting through the REST API."""
