"""Logs in from a message broker: ``atende-logs consume`` (docs/ingest.md, "From a broker").

``routing`` reads a subject (or routing key), ``source`` is the one small interface both
brokers stand behind (``jetstream``, ``rabbitmq``), ``loop`` takes batches of messages
through the same ingest path as an import or an HTTP batch and acknowledges them after the
commit, and ``metrics`` counts what it does. May use ingest/, storage/ and kinds/; never
http/.
"""
