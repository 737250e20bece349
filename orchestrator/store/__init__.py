"""SQLite state store: tables, all queries, migrations, and the SDK SessionStore adapter."""
