"""Persistence: database engines and sessions, tables, migrations, repositories."""
