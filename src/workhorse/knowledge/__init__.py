"""The knowledge base: parse, chunk, embed, index and search documents (no HTTP)."""
