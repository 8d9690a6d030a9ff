"""Workhorse: a self-hosted AI chatbot backend that makes every POST trustworthy."""

__version__ = "0.1.0"
