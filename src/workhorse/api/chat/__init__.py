"""The chat endpoints."""
