"""The history of runs: a live table of every run in the store, with details and summaries.

The widget is `studio.history.panel.HistoryPanel`.
"""
