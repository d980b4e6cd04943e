"""Operating a node: Prometheus metrics, structured JSON logs, rate limits, certificate expiry.

Nothing here is a module global resource: metrics live in a registry per
:class:`~gateway.node.Node` (several nodes share one process in the tests and
the demo), and rate limits in the middleware of each listener.
"""
