import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from django.core.management.base import CommandError, CommandParser
from django.db import DataError, transaction
from django.utils.translation import gettext

from scoring import accounts as account_math
from scoring import model_file, sentences, services
from scoring.commands import LeadflowCommand
from scoring.models import (
    AccountGroup,
    AccountRule,
    AccountSettings,
    EventType,
    ScoreGroup,
    ScoringRule,
    SegmentEvent,
)
from scoring.services import versions


class Command(LeadflowCommand):
    help = (
        "Import a model file (YAML or JSON): score groups, rules, decay, event types, account groups and account "
        "scoring, and the other apps' sections (nurture sequences, teams and routing rules), in that order "
        "whatever the file's. All or nothing. "
        "The scoring part becomes a draft (see Model versions in the admin) unless --publish makes it live at once; "
        "a file without one (only teams, routing…) is imported live, as those parts are not versioned."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only check the file, against the database too (the keys it names); change nothing.",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Import only when none of the parts the file holds is loaded yet (first run).",
        )
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Make the file's scoring model live at once (a new version), instead of a draft.",
        )
        parser.add_argument("--note", default="", help="With --publish: why, for the versions' history.")

    def handle(
        self, *args: Any, path: Path, check: bool, if_empty: bool, publish: bool, note: str, **options: Any
    ) -> None:
        # With --if-empty past the first run (a scoring model loaded), a file since moved or
        # broken is no reason to stop: bin/run passes LEADFLOW_MODEL on every run.
        scoring_loaded = if_empty and (ScoreGroup.objects.exists() or ScoringRule.objects.exists())
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            if scoring_loaded:
                self._not_read(path, f"cannot read ({exc.strerror})")
                return
            raise CommandError(f"{path}: cannot read ({exc.strerror})") from None
        try:
            spec = model_file.load_text(text)
        except model_file.ModelFileError as exc:
            if scoring_loaded:
                self._not_read(path, "it has problems (--check lists them)")
                return
            self._fail(path, exc.errors)
        sections = [s for s in model_file.sections() if s.name in spec.sections]
        if if_empty:
            loaded = [s.title for s in sections if s.loaded()]
            if spec.event_types is not None and _event_types_declared():
                loaded.insert(0, "event types")
            if spec.accounts is not None and _account_scoring_loaded():
                loaded.insert(0, "account scoring")
            if spec.account_groups is not None and AccountGroup.objects.exists():
                loaded.insert(0, "account groups")
            if spec.scoring and scoring_loaded:
                loaded.insert(0, "a scoring model")
            if loaded:
                self.stdout.write(f"Already loaded: {', '.join(loaded)}; left them as they are ({path} not imported).")
                return
        if spec.scoring and not check and not publish:
            self._draft(path, spec)
            return
        rescored: tuple[int, int] | None = None
        try:
            if spec.scoring and not check:
                summary, rescored = self._publish(spec, note)
            else:
                summary = services.scoring_model_import(spec=spec, dry_run=check)
        except model_file.ModelFileError as exc:
            self._fail(path, exc.errors)
        except versions.VersionError as exc:
            self._fail(path, exc.errors)
        except DataError as exc:  # a score past its column, met by the rescore: rolled back with the publish
            self._fail(
                path,
                [
                    f"publishing the model failed while rescoring the leads, so it was undone and the live model "
                    f"is unchanged: the database refused a value ({str(exc).strip()}), most likely a lead's score "
                    "past what a score column holds"
                ],
            )
        self._warn(path, summary.warnings)
        parts = [_scoring_counts(spec)] if spec.scoring else []
        if spec.event_types is not None:
            parts.append(f"{len(spec.event_types)} event types")
        if spec.account_groups is not None:
            parts.append(f"{len(spec.account_groups)} account groups")
        if spec.accounts is not None:
            parts.append(f"{len(spec.accounts.rules)} account rules")
        parts += [s.title for s in sections]
        if check:
            self.stdout.write(self.style.SUCCESS(f"{path}: valid ({'; '.join(parts)})"))
            return
        if spec.scoring:
            self.stdout.write(
                f"Groups: {summary.groups_created} created, {summary.groups_updated} updated, "
                f"{summary.groups_deleted} deleted. Rules: {summary.rules_created} created, "
                f"{summary.rules_updated} updated."
            )
            if summary.rules_deactivated:
                self.stdout.write(f"Deactivated (not in the file): {', '.join(summary.rules_deactivated)}")
        for line in summary.sections:
            self.stdout.write(line)
        if not spec.scoring:
            self.stdout.write(self.style.SUCCESS(f"Imported {path}: {', '.join(parts)}."))
            return
        assert rescored is not None
        entries, regrouped = rescored
        self.stdout.write(
            self.style.SUCCESS(f"Imported {path}. Fit rescored ({entries} ledger rows), {regrouped} leads regrouped.")
        )

    def _not_read(self, path: Path, why: str) -> None:
        self.stderr.write(
            self.style.WARNING(f"{path}: not imported, {why}; a scoring model is loaded already, left as it is.")
        )

    def _draft(self, path: Path, spec: model_file.ModelSpec) -> None:
        try:
            draft = versions.draft_import(spec=spec, user=None).english_name()
        except versions.VersionError as exc:
            self._fail(path, exc.errors)
        self._warn(path, services.model_rules_warnings(spec))
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: imported as a draft ({draft}, {_scoring_counts(spec)}); "
                "the live model is unchanged. Publish it from Model versions in the admin, or import with --publish."
            )
        )

    def _warn(self, path: Path, warnings: Sequence[str]) -> None:
        for warning in sentences.problems(warnings):
            self.stderr.write(
                self.style.WARNING("  " + gettext("{path}: warning: {warning}").format(path=path, warning=warning))
            )

    @transaction.atomic
    def _publish(self, spec: model_file.ModelSpec, note: str) -> tuple[services.ModelImportSummary, tuple[int, int]]:
        """The scoring part as a new live version, then the file's other parts, then every lead's
        fit rescored and group recomputed (the ledger rows written, the leads regrouped), in one
        transaction: a rescore that fails (a score past its column) undoes the publish, so the
        live model is never one the leads' scores do not follow. The groups the file leaves out
        are deleted before the rescore, so its sequences and routing rules may move off them
        first (as when the file is imported without a version).

        The rescore holds every lead's row until it commits: this is the command line's
        publish, run when the model is set up or replaced; the admin's publish rescores in a
        background job instead, chunk by chunk."""
        # The draft holds the scoring part; the rest is written live below.
        draft = versions.draft_import(spec=versions.scoring_part_only(spec), user=None)
        published = versions.version_publish(
            draft=draft, user=None, note=note, stale_ok=True, rescore=False, groups_deleted_later=True
        )
        rest = services.scoring_model_import(
            spec=dataclasses.replace(spec, scoring=False, name=spec.name or "", description=spec.description or ""),
            left_out=published.left_out,
        )
        assert published.summary is not None
        summary = dataclasses.replace(
            published.summary, sections=rest.sections, warnings=tuple(services.model_rules_warnings(spec))
        )
        return summary, (services.leads_rescore_fit_all(), services.leads_regroup())

    def _fail(self, path: Path, errors: list[str]) -> NoReturn:
        # In the site's language (LEADFLOW_LANGUAGE), as a command's gettext speaks.
        lines = "\n".join(f"  {path}: {error}" for error in sentences.problems(errors))
        said = gettext("{count} problem(s); nothing was imported:").format(count=len(errors))
        raise CommandError(f"{said}\n{lines}")


def _account_scoring_loaded() -> bool:
    """Whether accounts are scored otherwise than a new installation's: fit rules, or a
    roll-up other than the default sum."""
    default = AccountSettings._meta.get_field("top_n").get_default()
    changed = AccountSettings.objects.exclude(rollup=account_math.Rollup.SUM.value, top_n=default)
    return AccountRule.objects.exists() or changed.exists()


def _event_types_declared() -> bool:
    """Whether types are declared or Segment names mapped: a type only seen in interactions,
    as any installation receiving them before its model counts them, is not."""
    return EventType.objects.filter(declared=True).exists() or SegmentEvent.objects.exists()


def _scoring_counts(spec: model_file.ModelSpec) -> str:
    """The default score's groups and rules, then the other scorecards' together."""
    counts = f"{len(spec.groups)} groups, {len(spec.rules)} rules"
    if spec.scorecards:
        groups = sum(len(card.groups) for card in spec.scorecards)
        rules = sum(len(card.rules) for card in spec.scorecards)
        counts += f"; {len(spec.scorecards)} scorecards: {groups} groups, {rules} rules"
    return counts
