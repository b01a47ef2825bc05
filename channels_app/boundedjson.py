"""One JSON parser for everything the hub did not write itself: webhook bodies and platform answers.

`json.loads` as it comes answers a hostile body with errors nobody catches (a 5,000-digit integer
raises a plain ValueError, a 100,000-deep array a RecursionError) and accepts what no platform sends
(NaN, Infinity, 1e999999 read as infinity). Here every such body is one `JSONRefused`, a ValueError
saying what was refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64  # Platforms' payloads nest about 6 deep: this leaves room and still bounds the walk.
MAX_INTEGER_DIGITS = 40  # A 64-bit id has 20 digits, and nothing a platform sends needs more.
_INTEGER_BOUND = 10**MAX_INTEGER_DIGITS


class JSONRefused(ValueError):
    """Not JSON, or JSON past the bounds above."""


def _constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not a JSON value")


def loads(data: bytes | str, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """Parse `data`, or raise JSONRefused saying why it is not accepted."""
    try:
        value = json.loads(data, parse_float=parse_float, parse_constant=_constant)
    except JSONRefused:
        raise
    except RecursionError:
        # The C scanner stops at the interpreter's recursion limit, far past MAX_DEPTH.
        raise JSONRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as exc:
        raise JSONRefused(f"not UTF-8 (byte {exc.start + 1})") from None
    except json.JSONDecodeError as exc:
        raise JSONRefused(str(exc)) from None
    except ValueError:  # int() itself refuses more than 4,300 digits, before our bound is checked.
        raise JSONRefused(f"an integer of more than {MAX_INTEGER_DIGITS} digits") from None
    problem = _out_of_bounds(value)
    if problem:
        raise JSONRefused(problem)
    return value


def _out_of_bounds(value: Any) -> str:
    """What in `value` is past the bounds, or "". Iterative: a walk of its own must not recurse,
    and one pass checks depth and numbers together (it costs less than the parse)."""
    stack = [([value], 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        for child in item.values() if isinstance(item, dict) else item if isinstance(item, list) else ():
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is int and not -_INTEGER_BOUND < child < _INTEGER_BOUND:
                return f"an integer of more than {MAX_INTEGER_DIGITS} digits"
            elif kind is float and not math.isfinite(child):
                return "a number out of range"
    return ""
