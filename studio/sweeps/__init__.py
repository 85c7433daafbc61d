"""Views of a sweep: a summary metric against the swept parameters (`sweep_view.SweepView`),
the trade-off between summary metrics across its runs (`tradeoff_view.TradeoffView`),
parallel coordinates over many swept keys (`parallel_view.ParallelCoordinatesView`), tests
between groups of runs (`group_stats_panel.GroupStatsTable`), and all of them in tabs
(`panel.SweepPanel`). Each view takes a StoreReader and a sweep id; the data behind them is in
`data` (no Qt), read live by `live.LiveSweep`.
"""
