"""One package per resource: router (thin), schemas (pydantic), service (logic)."""
