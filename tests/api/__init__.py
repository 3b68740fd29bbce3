"""Tests of helixnet.api (a package: its module names repeat those of tests/core)."""
