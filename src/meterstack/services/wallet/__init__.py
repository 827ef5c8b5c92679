"""The prepaid wallet: pay-per-use operations, BYOK, deposits, auto-reload and the
marketplace's creators (B2, B3, B11, D20–D24)."""
