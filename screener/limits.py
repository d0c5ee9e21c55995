"""Limits more than one layer applies, defined once (imports nothing: the CLI reads them while
building its parser)."""

DEFAULT_MAX_TEXT_CHARS = 20_000
"""Texts with more visible characters (letters and digits after folding) are screened on
their first ones and the verdict says `truncated`; invisible padding does not count. The
engine's default, the service's `--max-text-chars` and `screener scan`'s."""
