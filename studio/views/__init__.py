"""Watch: the plot kinds (regret, curves, pareto), their shared style, and the run data they draw."""
