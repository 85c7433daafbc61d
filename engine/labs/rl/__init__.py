"""Lab 5, tabular risk and off-policy RL: eligibility traces on off-policy data, mapped
value estimates, the entropic risk of exponential utility, and harvest quotas under
costly adjustment.

Every problem here is small enough for its truth to be exact (a linear solve, value
iteration or a closed form), so each learner is measured against it at every step.
Seeds are a batch dimension: value tables are [seeds, S, A].
"""
