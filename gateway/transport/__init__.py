"""Mutual TLS between partner nodes: server and client contexts from the trust bundle, and the partner HTTP clients.

A supporting layer below ``ledger`` (witnessing), ``terms`` (terms sync) and
``exchange`` (delivery), which all talk to partners; it imports only ``trust``.
"""
