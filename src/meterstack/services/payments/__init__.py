"""Payments: the provider port, the embedded local provider, and applying payment outcomes."""
