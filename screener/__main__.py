"""`python -m screener` is the same as the `screener` console script."""

from screener.cli import main

raise SystemExit(main())
