"""Invoices: the model, the period close that creates them, and their HTML and PDF renderings."""
