"""Workflows: rules that run when records change, and the sandbox their Python code runs in.

The sandbox (DESIGN decision 5) is a process boundary: rule code compiled by
``xrm.schemas.rule_code`` runs in pre-started worker processes
(:mod:`.worker`) under CPU, wall-clock and memory limits, reaching the host
only through JSON messages (:mod:`.protocol`); :mod:`.pool` hands those
workers to threads of the server; :mod:`.guards` is what rule code can reach
inside a worker. This package imports nothing heavy at import time, because
every worker imports it.
"""
