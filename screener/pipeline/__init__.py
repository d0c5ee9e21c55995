"""The I/O shell around the engine: Kafka consumer-group workers, review/DLQ output, shutdown."""
