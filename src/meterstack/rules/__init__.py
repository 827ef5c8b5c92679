"""Pure rules: bounds, classification, periods, rating. No I/O, no clock reads, no globals."""
