"""`make bench`: webhook ingest and event drain rates, paid orders end to end and a supplier catalog
sync, each beside a baseline measured in the same run.

Run as `python -m bench [ingest|drain|orders|catalog]`; see bench/__main__.py for the knobs.
"""
