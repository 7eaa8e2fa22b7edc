"""Bringing tests in and results out: every file format goes through one ProjectContent (content.py)."""
