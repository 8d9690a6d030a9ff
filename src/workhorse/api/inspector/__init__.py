"""``/v1/admin/requests``: the request inspector."""
