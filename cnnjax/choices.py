"""One way to refuse a value that is not among the accepted ones.

Every "unknown X; accepted are ..." message in cnnjax is written here, so they read alike and
carry a "did you mean" suggestion when the value is a near miss (e.g. a misspelled name).
"""

import difflib
from collections.abc import Iterable


def unknown(what: str, value, accepted: Iterable, *, extra: str = "") -> ValueError:
    """Returns the ValueError for a `value` of `what` that is not among `accepted`.

    Args:
      what: what the value names, e.g. "optimizer" or "config key".
      value: the value given.
      accepted: the accepted values, in the order they are listed.
      extra: appended after the list, e.g. "or any prepared tfds dataset name".

    Returns:
      `ValueError("unknown optimizer 'adm'; accepted are sgd, adam; did you mean 'adam'?")`.
    """
    names = [str(a) for a in accepted]
    listed = ", ".join(names) + (f" {extra}" if extra else "")
    close = difflib.get_close_matches(str(value), names, n=1) if isinstance(value, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ValueError(f"unknown {what} {value!r}; accepted are {listed}{hint}")


def check(what: str, value, accepted: Iterable, *, extra: str = "") -> None:
    """Raises `unknown(what, value, accepted)` unless `value` is in `accepted`."""
    accepted = tuple(accepted)
    if value not in accepted:
        raise unknown(what, value, accepted, extra=extra)
