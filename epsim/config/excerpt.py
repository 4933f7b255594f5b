"""Short excerpts of values for error messages.

A config value can be huge (a long string, a list of a million numbers, an alias expanded many
times over); a message quotes at most an excerpt of it, computed without walking the whole value.
"""

from __future__ import annotations

import reprlib

EXCERPT_CHARS = 60

_REPR = reprlib.Repr()
_REPR.maxstring = EXCERPT_CHARS
_REPR.maxother = EXCERPT_CHARS
_REPR.maxlong = 24
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 6
_REPR.maxlevel = 3


def excerpt(value: object) -> str:
    """`repr(value)`, shortened with '...' to about EXCERPT_CHARS characters."""
    try:
        text = _REPR.repr(value)
    except (ValueError, RecursionError):  # an int too long to print, a self-containing list
        return f"<a {type(value).__name__}>"
    if len(text) > 2 * EXCERPT_CHARS:  # nested containers add up: clip the total too
        text = text[:EXCERPT_CHARS] + "..."
    return text
