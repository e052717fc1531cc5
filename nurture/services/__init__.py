"""Everything that writes nurture state: enrollments, deliveries, unsubscribes, imports.

Split by topic: :mod:`~nurture.services.enrollment` (enrolling, exiting,
unsubscribing), :mod:`~nurture.services.sending` (due steps claimed, sent exactly
once, recorded; its phases in :mod:`~nurture.services.claiming` and
:mod:`~nurture.services.messages`), :mod:`~nurture.services.engagement` (opens and clicks counted),
:mod:`~nurture.services.sequences` (the sequence file), :mod:`~nurture.services.samples`
(a step sent to a marketer as a test) and
:mod:`~nurture.services.facts` (what their decisions read about a lead). The names
other modules use are kept here.
"""

from nurture.services.claiming import SET_ASIDE_ENROLLMENT, SendSummary
from nurture.services.engagement import deliveries_tally_engagement
from nurture.services.enrollment import (
    EnrollResult,
    EnrollSummary,
    enrollment_exit,
    enrollment_try_start,
    enrollments_exit,
    enrollments_start_by_email,
    enrollments_start_for_leads,
    enrollments_start_many,
    lead_unsubscribe,
    leads_exit_all,
    leads_exit_sequence,
)
from nurture.services.facts import OPEN, claim_lease, lead_facts, lead_time_zone
from nurture.services.messages import NurtureEmail, Outcome, classify_smtp_error
from nurture.services.samples import step_sample_send
from nurture.services.sending import deliveries_send_all_due, deliveries_send_due
from nurture.services.sequences import ImportSummary, SequenceImportError, sequences_import

__all__ = [
    "OPEN",
    "SET_ASIDE_ENROLLMENT",
    "EnrollResult",
    "EnrollSummary",
    "ImportSummary",
    "NurtureEmail",
    "Outcome",
    "SendSummary",
    "SequenceImportError",
    "claim_lease",
    "classify_smtp_error",
    "deliveries_send_all_due",
    "deliveries_send_due",
    "deliveries_tally_engagement",
    "enrollment_exit",
    "enrollment_try_start",
    "enrollments_exit",
    "enrollments_start_by_email",
    "enrollments_start_for_leads",
    "enrollments_start_many",
    "lead_facts",
    "lead_time_zone",
    "lead_unsubscribe",
    "leads_exit_all",
    "leads_exit_sequence",
    "sequences_import",
    "step_sample_send",
]
