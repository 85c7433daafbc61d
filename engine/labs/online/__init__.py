"""Lab 1, paper algorithms: online learning under memory, multiple objectives, tallies,
replenishable resources and budgets.

Every algorithm here belongs to the "bandits" family (it appears with Lab 1 and plots
cumulative regret); each comes with its own problem, generated from the run's seed.
"""
