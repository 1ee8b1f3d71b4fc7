"""The SQLite catalog: schema, sidecars, import and the query language (no UI code)."""
