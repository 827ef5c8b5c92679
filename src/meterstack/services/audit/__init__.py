"""The audit log: who changed an account's billing, when, from what to what, and why."""
