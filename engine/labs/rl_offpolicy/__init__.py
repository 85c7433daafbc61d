"""Lab 5, off-policy rows: smoothed importance weights, the risk-return of off-policy
evaluation (SharpeRatio@k), and preferences over runtime distributions.

Every algorithm here belongs to the "rl" family (risk and off-policy RL). Each sweeps one
parameter over the run's steps, step t standing for the t-th value of the sweep (α,
the portfolio size k, or the captime), and also records that value as a metric.
"""
