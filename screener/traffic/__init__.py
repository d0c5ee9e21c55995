"""Kafka traffic: the recording format, `record`, `replay`, pacing and the batching sender."""
