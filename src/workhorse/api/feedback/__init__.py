"""``/v1/feedback``: ratings of answers, and their export."""
