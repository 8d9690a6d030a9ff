"""The files endpoints."""
