"""Replay of the real captured sessions (see README.md)."""
