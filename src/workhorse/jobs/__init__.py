"""Durable background jobs: the queue (huey on SQLite or Redis) and its workers."""
