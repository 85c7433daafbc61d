"""Lab 4, unlearning: forget a class or a random subset of a small classifier's training data."""
