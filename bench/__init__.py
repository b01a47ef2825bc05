"""`make bench`: webhook ingest and event drain rates, each beside a baseline measured in the same run.

Run as `python -m bench [ingest|drain]`; see bench/__main__.py for the knobs.
"""
