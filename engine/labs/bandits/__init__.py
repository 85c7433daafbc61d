"""Lab 1: bandits and online learning; every run emits cumulative regret."""
