"""Contenders of `screener bench pipeline`: standalone programs, run by path, importing
nothing of screener. Each is the job written plainly against a client library, the way a
competent engineer would write it in an afternoon: the yardsticks the service is held to."""

TERMS = ("约炮", "刷单", "网赌", "百家乐")
"""the four substrings the contenders look for (each is in some of the corpus's violations)."""
