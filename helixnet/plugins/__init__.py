"""Compute plugins."""
