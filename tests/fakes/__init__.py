"""Fakes of the external services meterstack talks to, faked at their HTTP boundary only; and a
wrapper of the store (``faulty_store``) that injects faults below every check of the engine."""
