"""The fine-tuning endpoints."""
