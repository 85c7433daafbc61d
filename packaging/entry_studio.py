"""The bundle's `tradeoff-studio` program: the studio's own entry point."""

from studio.app import main

raise SystemExit(main())
