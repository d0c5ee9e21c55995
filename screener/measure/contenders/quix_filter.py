"""A naive Quix Streams filter for the same job: the documented `Application` +
`StreamingDataFrame` way, JSON in, the hits out, defaults otherwise (one change: commits
every second instead of every 5 s, as screener does by default; the benchmark times the
output, not the commits, but waits for the last commit before the next phase).

    python quix_filter.py BOOTSTRAP INPUT_TOPICS OUTPUT_TOPIC GROUP
"""

import sys

from quixstreams import Application  # type: ignore[import-not-found,unused-ignore]  # own venv

TERMS = (
    "约炮",
    "刷单",
    "网赌",
    "百家乐",
)  # as in contenders/__init__.py (not imported: standalone)


def hit(value: object) -> bool:
    text = value.get("text", "") if isinstance(value, dict) else ""
    return isinstance(text, str) and any(term in text for term in TERMS)


def main(bootstrap: str, inputs: str, output: str, group: str) -> None:
    app = Application(
        broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
        auto_create_topics=False, commit_interval=1.0,
    )  # fmt: skip
    out = app.topic(output, value_serializer="json")
    for name in inputs.split(","):
        sdf = app.dataframe(app.topic(name, value_deserializer="json"))
        sdf = sdf.filter(hit)
        sdf.to_topic(out)
    app.run()


if __name__ == "__main__":
    main(*sys.argv[1:5])
