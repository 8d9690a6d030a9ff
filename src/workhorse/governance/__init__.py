"""Limits, budgets and usage: what a key or project may spend, and what it spent (no HTTP)."""
