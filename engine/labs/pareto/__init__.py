"""Lab 3: multi-objective and multi-task learning; runs emit Pareto points."""
