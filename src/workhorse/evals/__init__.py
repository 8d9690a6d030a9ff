"""Evals: templates, graders and the run engine (no HTTP)."""
