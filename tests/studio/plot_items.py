"""Reading back what pyqtgraph items hold, for tests that check what is drawn."""

import numpy as np


def xy(item):
    """The full-resolution data a curve item was given (empty arrays when it has none)."""
    x, y = item.getOriginalDataset()
    return (np.array([]), np.array([])) if x is None else (np.asarray(x), np.asarray(y))


def legend_texts(plot):
    """The legend's entries, in order."""
    return [label.text for _, label in plot.plot_item.legend.items]
