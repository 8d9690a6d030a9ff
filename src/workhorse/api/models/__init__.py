"""The models endpoints."""
