"""Checks of the code base that no test runs: they are run by ``make lint``."""
