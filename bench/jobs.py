"""The drain benchmark's baseline job."""

from __future__ import annotations


def noop(i: int) -> None:
    """Does nothing: what is left is rq's own cost per job, with the hub's worker class."""
    return None
