"""Sales outcomes reported from outside (a CRM over the API): what they are, and who
records them.

Routing records outcomes (its sales service moves the lead's queue item and stage);
intake takes them in over the API. Neither app imports the other, so routing
registers its recorder here when it starts (:func:`register_recorder`) and intake
calls :func:`recorder`. This module holds no state of its own but that one function.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# The outcomes another system may report, and what each needs.
OPPORTUNITY = "opportunity"
WON = "won"
LOST = "lost"
KINDS = {
    OPPORTUNITY: "Opportunity created (the lead's stage becomes opportunity)",
    WON: "Won (the lead becomes a customer); give the amount if known",
    LOST: "Lost; give the reason",
}
NEEDS_REASON = frozenset({LOST})
# Amounts as the column keeps them: 12 digits before the point, 2 after.
AMOUNT_MAX_DIGITS = 14
AMOUNT_DECIMAL_PLACES = 2
AMOUNT_MAX = Decimal(10 ** (AMOUNT_MAX_DIGITS - AMOUNT_DECIMAL_PLACES)) - Decimal("0.01")
REASON_MAX_LENGTH = 300
CLIENT_ID_MAX_LENGTH = 200


class OutcomeRefused(ValueError):
    """The outcome cannot be recorded as given; ``field`` names what is wrong. Nothing was changed."""

    def __init__(self, field: str, message: str, *, code: str = "invalid") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code  # the API's stable code: "required" when the field was left out


@dataclass(frozen=True)
class ReportedOutcome:
    lead_id: int
    kind: str
    amount: Decimal | None = None
    reason: str = ""
    client_id: str | None = None
    source: str = ""
    at: datetime | None = None


@dataclass(frozen=True)
class RecordedOutcome:
    id: int
    lead_id: int
    kind: str
    amount: Decimal | None
    reason: str
    client_id: str | None
    at: datetime
    # False: an outcome with this client id was recorded before; this is it, nothing changed.
    created: bool
    lifecycle_stage: str


Recorder = Callable[[ReportedOutcome], RecordedOutcome]
_recorder: list[Recorder] = []


def register_recorder(record: Recorder) -> None:
    _recorder[:] = [record]


def recorder() -> Recorder:
    if not _recorder:
        raise RuntimeError("No app records sales outcomes: is routing installed?")
    return _recorder[0]


# Many outcomes at once (a CSV import of past deals): the answer for each, in order, is
# what was recorded or why it was refused; the same checks and effects as the recorder's.
BatchRecorder = Callable[[Sequence[ReportedOutcome]], list["RecordedOutcome | OutcomeRefused"]]
_batch_recorder: list[BatchRecorder] = []


def register_batch_recorder(record: BatchRecorder) -> None:
    _batch_recorder[:] = [record]


def batch_recorder() -> BatchRecorder:
    if not _batch_recorder:
        raise RuntimeError("No app records sales outcomes: is routing installed?")
    return _batch_recorder[0]


# How each lead's sales story ended, for what learns from or checks against outcomes
# (the replay's conversion and AUC, predictive training): routing keeps the outcomes
# and registers the function that reads them (:func:`register_closed_outcomes`).
ClosedOutcomes = Callable[..., dict[int, bool]]
_closed: list[ClosedOutcomes] = []


def register_closed_outcomes(read: ClosedOutcomes) -> None:
    _closed[:] = [read]


def closed_outcomes(*, lead_ids: Collection[int] | None = None, since: datetime | None = None) -> dict[int, bool]:
    """Lead id → True (won) or False (lost or disqualified), by the lead's latest closing
    outcome (at or after ``since`` if given); leads not closed are absent."""
    if not _closed:
        raise RuntimeError("No app keeps sales outcomes: is routing installed?")
    return _closed[0](lead_ids=lead_ids, since=since)
