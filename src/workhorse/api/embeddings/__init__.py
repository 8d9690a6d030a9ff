"""The embeddings endpoints."""
