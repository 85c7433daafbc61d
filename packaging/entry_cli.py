"""The bundle's `tradeoff` program: the engine's CLI, which the studio also starts for runs."""

import multiprocessing

from engine.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # engine worker processes re-enter this program
    raise SystemExit(main())
