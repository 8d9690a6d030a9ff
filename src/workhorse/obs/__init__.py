"""Observability: structured logs (metrics, traces and the request inspector come later)."""
