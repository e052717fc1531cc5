"""Python's cycle collector, paused for the length of one batch.

A batch (a chunk of a replay, a batch of predictions) makes a few objects per lead or
interaction (tuples, texts, small dicts) and no reference cycles, yet every few hundred
new objects start a collection, and the older generations' passes visit every object the
process holds: a worker holds Django's and scikit-learn's, some 200,000 of them. Measured,
that was a quarter to a half of a batch's time. Paused for the batch, nothing is lost:
what a batch leaves unreachable is freed by reference counting as always, and the
collector runs again as soon as the batch ends (also when it fails).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cycle collector off inside the block, back as it was after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
