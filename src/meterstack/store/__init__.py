"""Persistence: the SQL store for SQLite and PostgreSQL, its schema and migrations."""
