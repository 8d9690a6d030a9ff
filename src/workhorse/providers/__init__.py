"""Model providers: local llama.cpp and sentence-transformers models, and upstream servers."""
