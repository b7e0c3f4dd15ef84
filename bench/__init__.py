"""Benchmark of the parser and the shipper on generated fleet-sized senderlog corpora."""
