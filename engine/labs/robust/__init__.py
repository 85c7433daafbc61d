"""Lab 4, robust vs clean accuracy: TRADES, SCORE and WEAT on two moons against a PGD attack."""
