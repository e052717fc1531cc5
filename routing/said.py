"""What routing says it did (an action's outcome, why an email or a webhook call failed,
what an SLA escalation did), kept and shown as :mod:`scoring.said` keeps and shows every
app's sentences."""

from scoring.said import AS_IT_CAME, Said, said, shown

__all__ = ["AS_IT_CAME", "Said", "said", "shown"]
