"""The least a Python aiokafka worker can do for this job: consume, `json.loads`, four
substring checks, produce the hits, commit after the acks. No DLQ, no metrics, no rules.

    python minimal_aiokafka.py BOOTSTRAP INPUT_TOPICS OUTPUT_TOPIC GROUP
"""

import asyncio
import json
import signal
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

TERMS = (
    "约炮",
    "刷单",
    "网赌",
    "百家乐",
)  # as in contenders/__init__.py (not imported: standalone)


async def main(bootstrap: str, inputs: str, output: str, group: str) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    consumer = AIOKafkaConsumer(
        *inputs.split(","), bootstrap_servers=bootstrap, group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
    )  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=2000)
            sent = []
            for records in batches.values():
                for record in records:
                    try:
                        text = json.loads(record.value).get("text", "")
                    except (ValueError, AttributeError):
                        continue  # not a JSON object: skipped
                    if isinstance(text, str) and any(term in text for term in TERMS):
                        sent.append(await producer.send(output, record.value, key=record.key))
            if sent:
                await asyncio.gather(*sent)  # the hits are acknowledged...
            if batches:
                await consumer.commit()  # ...before their offsets are committed
    finally:
        await producer.stop()
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
