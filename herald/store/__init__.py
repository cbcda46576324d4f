"""The store: the only package that knows SQL. It returns domain values."""
