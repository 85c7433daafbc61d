"""Compare runs: overlay their curves, group them by a parameter, diff their specs.

The widget is `studio.compare.panel.ComparePanel`.
"""
