from typing import Any

from django.core.management.base import CommandError, CommandParser

from scoring.commands import LeadflowCommand
from scoring.predictive.training import NotEnoughOutcomes
from scoring.services import predictive


class Command(LeadflowCommand):
    help = (
        "Train the predictive model on every lead won or lost so far, make it the active version"
        " and refresh every lead's probability."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--exclude",
            action="append",
            metavar="COLUMN",
            help="A column the model must not learn from (repeat for more); default: the settings' list.",
        )
        parser.add_argument("--keep-active", action="store_true", help="Store the new version without activating it.")

    def handle(self, *args: Any, exclude: list[str] | None, keep_active: bool, **options: Any) -> None:
        try:
            version = predictive.model_train(excluded=exclude, activate=not keep_active)
        except NotEnoughOutcomes as error:
            raise CommandError(str(error)) from None
        except ValueError as error:
            raise CommandError(str(error)) from None
        metrics = version.metrics
        holdout = metrics.get("holdout_auc")
        self.stdout.write(
            self.style.SUCCESS(
                f"Version {version.number} ({version.algorithm}) from {version.leads} leads in"
                f" {version.training_seconds:.1f} s: cross-validated AUC {metrics['cv_auc']:.3f},"
                + (f" hold-out AUC {holdout:.3f}," if holdout is not None else " no time-ordered hold-out,")
                + f" Brier {metrics['brier']:.3f}"
                + ("" if keep_active else "; now active")
            )
        )
