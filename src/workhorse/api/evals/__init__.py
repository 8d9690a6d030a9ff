"""``/v1/evals``: evals, runs and output items."""
