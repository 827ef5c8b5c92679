"""Fakes of the external services meterstack talks to, faked at their HTTP boundary only."""
