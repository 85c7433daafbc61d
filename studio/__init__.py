"""Tradeoff Studio's Qt front end (PySide6 + pyqtgraph).

The studio never imports torch: it learns the catalogue from `python -m engine list
--json`, starts runs as `python -m engine run` processes and reads what they write to
the store. Only the torch-free engine modules (params, spec, registry's JSON view,
store, metrics) are imported here.
"""

import os

# pyqtgraph picks the first Qt binding it finds; a machine with PyQt installed too
# would otherwise mix two bindings in one process.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
