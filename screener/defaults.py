"""Defaults more than one layer applies, defined once (imports nothing: the CLI reads them
while building its parser, before any heavy module is loaded)."""

DEFAULT_MAX_TEXT_CHARS = 20_000
"""Texts with more visible characters (letters and digits after folding) are screened on
their first ones and the verdict says `truncated`; invisible padding does not count. The
engine's default, the service's `--max-text-chars` and `screener scan`'s."""

CHAT_TOPIC = "chat.events"
MICROBLOG_TOPIC = "microblog.events"
"""The input topics the service reads by default, and where the traffic tools send."""
REVIEW_TOPIC = "screening.review"
GROUP_ID = "screener"
"""The service's consumer group (the load test reads its lag)."""
RULES_TOPIC = "screening.rules"
STATUS_TOPIC = "screening.status"
