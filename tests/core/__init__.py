"""Tests of helixnet.core (a package: its module names repeat those of tests/api)."""
