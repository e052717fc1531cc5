"""Nurture sequences as a file: parse and check it. No ORM here.

A sequence file is YAML (JSON is valid YAML too)::

    leadflow_nurture: 1
    sequences:
      - key: nurture
        name: Nurture
        description: Blogs, downloads and offers.
        reenroll: after_ended          # never | after_ended (default) | always
        exit:                          # exit goals; unsubscribing always exits
          reaches_group: frequent      # a score group key: reaching it or a higher group exits
          leaves_group: nurture        # a score group key: being out of it exits
          converted: true              # lifecycle stage customer (default true)
          routed_to_sales: true        # lifecycle SQL or opportunity, or an owner (default true)
        send_window: {hours: [9, 18], weekdays: [mon, tue, wed, thu, fri]}   # default for the steps
        steps:                         # in order; the first waits after enrollment
          - wait: {days: 0, hours: 1}
            campaign: nurture-welcome  # optional, default: the sequence key
            send_window: {hours: [10, 12]}   # optional, overrides the sequence's
            subject: "Welcome, {{ lead.first_name|default:'friend' }}"
            text: |
              Plain text body (Django template language).
            html: |                    # optional; autoescaped, placed in the HTML layout
              <p>HTML body</p>
            language: en               # optional: the language of subject/text/html (default: the site's)
            translations:              # optional: the step in other languages, for leads whose
              es:                      # `language` attribute is one of them
                subject: "Bienvenida, {{ lead.first_name|default:'amiga' }}"
                text: |
                  Cuerpo en texto plano.

Every problem is reported with its place (``sequences[0].steps[1].html: line
2: …``), all at once; the importer changes nothing unless the whole file is
valid. The same ``sequences`` list may stand in the scoring model file
(:mod:`nurture.model_file`), beside the score groups its exit goals name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nurture import goals, timing
from scoring import file_checks as checks
from scoring.event_types import gettext_noop
from scoring.file_checks import Problem

FORMAT_VERSION = 1
MAX_KEY = 80  # the keys' and campaigns' columns
NAME_MAX_LENGTH = 200  # a sequence's name column
SUBJECT_MAX_LENGTH = 500  # a step's subject column (its translations' subjects too)
_TOP_KEYS = {"leadflow_nurture", "sequences"}
_SEQUENCE_KEYS = {"key", "name", "description", "active", "reenroll", "exit", "send_window", "steps"}
_EXIT_KEYS = {"reaches_group", "leaves_group", "converted", "routed_to_sales"}
_STEP_KEYS = {"wait", "send_window", "campaign", "subject", "text", "html", "language", "translations"}
_VERSION_KEYS = {"subject", "text", "html"}
_WAIT_KEYS = {"days", "hours"}
_WINDOW_KEYS = {"hours", "weekdays"}


NON_EMPTY_LIST = gettext_noop("{place}: must be a non-empty list")
ONE_LINE = gettext_noop("{place}: must be one line")
_WINDOW_PROBLEMS = {
    "start_hour": gettext_noop("{place}: start hour {problem}"),
    "end_hour": gettext_noop("{place}: end hour {problem}"),
    "weekdays": gettext_noop("{place}: weekdays {problem}"),
}


class SequenceFileError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class StepSpec:
    position: int
    subject: str
    text: str
    html: str = ""
    wait_days: int = 0
    wait_hours: int = 0
    send_hour_start: int = 0
    send_hour_end: int = 24
    weekdays: frozenset[int] = timing.ALL_WEEKDAYS
    campaign: str = ""
    language: str = ""  # of subject, text and html; empty: the site's
    # The step in other languages: (language, subject, text, html), by language.
    translations: tuple[tuple[str, str, str, str], ...] = ()


@dataclass(frozen=True)
class SequenceSpec:
    key: str
    name: str
    steps: tuple[StepSpec, ...]
    description: str = ""
    active: bool = True
    reenroll: str = goals.ReenrollPolicy.AFTER_ENDED.value
    exit_reaches_group: str | None = None
    exit_leaves_group: str | None = None
    exit_converted: bool = True
    exit_routed_to_sales: bool = True


@dataclass(frozen=True)
class FileSpec:
    sequences: tuple[SequenceSpec, ...]


# Checks a step's templates: returns {"subject"|"text"|"html": problem}. Injected
# so this module stays free of Django (the importer passes nurture.content's).
TemplateCheck = Callable[[str, str, str], dict[str, str]]


def load_text(text: str, *, check_templates: TemplateCheck | None = None) -> FileSpec:
    try:
        data = checks.yaml_load(text)
    except ValueError as exc:
        raise SequenceFileError([exc.args[0]]) from None
    return load_data(data, check_templates=check_templates)


def load_data(data: object, *, check_templates: TemplateCheck | None = None) -> FileSpec:
    errors: list[str] = []
    if not isinstance(data, dict):
        raise SequenceFileError(
            [Problem(gettext_noop("the file must be a mapping with leadflow_nurture and sequences"))]
        )
    checks.unknown_keys(data, _TOP_KEYS, "", errors)
    if data.get("leadflow_nurture") != FORMAT_VERSION:
        errors.append(
            Problem(
                gettext_noop("{place}: must be {version} (the format version), not {value!r}"),
                place="leadflow_nurture",
                version=FORMAT_VERSION,
                value=data.get("leadflow_nurture"),
            )
        )
    sequences = parse_sequences(data.get("sequences"), errors, check_templates=check_templates)
    if errors:
        raise SequenceFileError(errors)
    return FileSpec(sequences)


def parse_sequences(
    raw: object, errors: list[str], *, check_templates: TemplateCheck | None = None
) -> tuple[SequenceSpec, ...]:
    """The ``sequences`` list, of a sequence file or of the model file, every problem added to ``errors``."""
    if not isinstance(raw, list) or not raw:
        errors.append(Problem(NON_EMPTY_LIST, place="sequences"))
        return ()
    sequences: list[SequenceSpec] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(raw):
        spec = _sequence(item, f"sequences[{index}]", seen, errors, check_templates)
        if spec is not None:
            sequences.append(spec)
    return tuple(sequences)


def _window(raw: object, where: str, errors: list[str], default: timing.Window) -> timing.Window:
    if raw is None:
        return default
    window = checks.mapping(raw, where, errors, holding=Problem(gettext_noop("with hours and/or weekdays")))
    if window is None:
        return default
    checks.unknown_keys(window, _WINDOW_KEYS, where, errors)
    start, end, weekdays = default.start_hour, default.end_hour, set(default.weekdays)
    if "hours" in window:
        hours = window["hours"]
        if (
            not isinstance(hours, list)
            or len(hours) != 2
            or not all(isinstance(h, int) and not isinstance(h, bool) for h in hours)
        ):
            message = gettext_noop("{place}: must be [start, end], local hours such as [9, 18]")
            errors.append(Problem(message, place=f"{where}.hours"))
        else:
            start, end = hours
    if "weekdays" in window:
        days = window["weekdays"]
        if not isinstance(days, list) or not all(isinstance(d, str) and d.lower()[:3] in timing.WEEKDAYS for d in days):
            message = gettext_noop("{place}: must be a list of days such as [mon, tue, wed, thu, fri]")
            errors.append(Problem(message, place=f"{where}.weekdays"))
        else:
            weekdays = {timing.WEEKDAYS.index(d.lower()[:3]) for d in days}
    problems = timing.window_errors(start, end, weekdays)
    for name, message in problems.items():
        place = "hours" if name in ("start_hour", "end_hour") else "weekdays"
        errors.append(Problem(_WINDOW_PROBLEMS[name], place=f"{where}.{place}", problem=Problem(message)))
    if problems:
        return default
    return timing.Window(start, end, frozenset(weekdays))


def _sequence(
    raw: object, where: str, seen: dict[str, str], errors: list[str], check_templates: TemplateCheck | None
) -> SequenceSpec | None:
    item = checks.mapping(raw, where, errors, holding="(key, name, steps…)")
    if item is None:
        return None
    checks.unknown_keys(item, _SEQUENCE_KEYS, where, errors)
    key = checks.key(item, where, seen, errors, max_length=MAX_KEY)
    name = checks.text(item, "name", where, errors, required=True, max_length=NAME_MAX_LENGTH)
    policies = [p.value for p in goals.ReenrollPolicy]
    reenroll = checks.choice(item, "reenroll", where, errors, policies)
    if reenroll not in policies:
        reenroll = goals.ReenrollPolicy.AFTER_ENDED.value
    exit_raw = checks.mapping(
        item.get("exit") or {}, f"{where}.exit", errors, holding=f"({', '.join(sorted(_EXIT_KEYS))})"
    )
    reaches = leaves = None
    converted = routed = True
    if exit_raw is not None:
        checks.unknown_keys(exit_raw, _EXIT_KEYS, f"{where}.exit", errors)
        reaches = checks.text(exit_raw, "reaches_group", f"{where}.exit", errors) or None
        leaves = checks.text(exit_raw, "leaves_group", f"{where}.exit", errors) or None
        converted = checks.flag(exit_raw, "converted", f"{where}.exit", errors, default=True)
        routed = checks.flag(exit_raw, "routed_to_sales", f"{where}.exit", errors, default=True)
    default_window = _window(item.get("send_window"), f"{where}.send_window", errors, timing.Window())
    steps: list[StepSpec] = []
    raw_steps = item.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        errors.append(Problem(NON_EMPTY_LIST, place=f"{where}.steps"))
    else:
        for index, raw_step in enumerate(raw_steps):
            step = _step(raw_step, index, f"{where}.steps[{index}]", errors, default_window, check_templates)
            if step is not None:
                steps.append(step)
    return SequenceSpec(
        key=key,
        name=name,
        steps=tuple(steps),
        description=checks.text(item, "description", where, errors),
        active=checks.flag(item, "active", where, errors, default=True),
        reenroll=str(reenroll),
        exit_reaches_group=reaches,
        exit_leaves_group=leaves,
        exit_converted=converted,
        exit_routed_to_sales=routed,
    )


def _step(
    raw: object,
    index: int,
    where: str,
    errors: list[str],
    default_window: timing.Window,
    check_templates: TemplateCheck | None,
) -> StepSpec | None:
    step = checks.mapping(raw, where, errors, holding="(wait, subject, text, html…)")
    if step is None:
        return None
    item = step
    checks.unknown_keys(item, _STEP_KEYS, where, errors)
    wait = checks.mapping(
        item.get("wait") or {}, f"{where}.wait", errors, holding=Problem(gettext_noop("such as {{days: 2, hours: 0}}"))
    )
    days = hours = 0
    if wait is not None:
        checks.unknown_keys(wait, _WAIT_KEYS, f"{where}.wait", errors)
        days = (
            checks.whole_number(
                wait, "days", f"{where}.wait", errors, minimum=0, maximum=timing.WAIT_DAYS_MAX, default=0
            )
            or 0
        )
        hours = (
            checks.whole_number(
                wait, "hours", f"{where}.wait", errors, minimum=0, maximum=timing.WAIT_HOURS_MAX, default=0
            )
            or 0
        )
    window = _window(item.get("send_window"), f"{where}.send_window", errors, default_window)
    campaign = checks.text(item, "campaign", where, errors, max_length=MAX_KEY)
    if campaign and not checks.is_key(campaign):
        errors.append(Problem(gettext_noop("{place}: use letters, digits, - and _"), place=f"{where}.campaign"))
    subject = checks.text(item, "subject", where, errors, required=True, max_length=SUBJECT_MAX_LENGTH)
    text = checks.text(item, "text", where, errors, required=True)
    html = checks.text(item, "html", where, errors)
    if "\n" in subject.strip():
        errors.append(Problem(ONE_LINE, place=f"{where}.subject"))
    if check_templates is not None and subject and text:
        for name, problem in check_templates(subject, text, html).items():
            errors.append(checks.at(f"{where}.{name}", problem))
    language = checks.text(item, "language", where, errors).strip().lower()
    translations = _translations(item.get("translations"), f"{where}.translations", errors, check_templates)
    if language and language in {t[0] for t in translations}:
        message = gettext_noop("{place}: {value} is the step's own language (`language`)")
        errors.append(Problem(message, place=f"{where}.translations.{language}", value=language))
    return StepSpec(
        position=index + 1,
        subject=subject.strip(),
        text=text,
        html=html,
        wait_days=days,
        wait_hours=hours,
        send_hour_start=window.start_hour,
        send_hour_end=window.end_hour,
        weekdays=window.weekdays,
        campaign=campaign,
        language=language,
        translations=translations,
    )


def _translations(
    raw: object, where: str, errors: list[str], check_templates: TemplateCheck | None
) -> tuple[tuple[str, str, str, str], ...]:
    if raw is None:
        return ()
    versions = checks.mapping(
        raw, where, errors, holding=Problem(gettext_noop("languages, such as {{es: {{subject: …, text: …}}}}"))
    )
    if versions is None:
        return ()
    found = []
    for code, raw_version in sorted(versions.items(), key=lambda kv: str(kv[0])):
        here = f"{where}.{code}"
        version = checks.mapping(raw_version, here, errors, holding="(subject, text, html)")
        if version is None:
            continue
        checks.unknown_keys(version, _VERSION_KEYS, here, errors)
        subject = checks.text(version, "subject", here, errors, required=True, max_length=SUBJECT_MAX_LENGTH)
        text = checks.text(version, "text", here, errors, required=True)
        html = checks.text(version, "html", here, errors)
        if "\n" in subject.strip():
            errors.append(Problem(ONE_LINE, place=f"{here}.subject"))
        if check_templates is not None and subject and text:
            for name, problem in check_templates(subject, text, html).items():
                errors.append(checks.at(f"{here}.{name}", problem))
        if subject and text:
            found.append((str(code).strip().lower(), subject.strip(), text, html))
    return tuple(found)


# --- writing ------------------------------------------------------------------------


def dump_sequences(sequences: Iterable[SequenceSpec]) -> list[dict[str, Any]]:
    """The ``sequences`` list for a file: what :func:`parse_sequences` reads back as the same specs.

    A send window all the steps share is written once, on the sequence."""
    return [_sequence_data(sequence) for sequence in sequences]


def _window_of(step: StepSpec) -> timing.Window:
    return timing.Window(step.send_hour_start, step.send_hour_end, frozenset(step.weekdays))


def _window_data(window: timing.Window) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if (window.start_hour, window.end_hour) != (0, 24):
        data["hours"] = [window.start_hour, window.end_hour]
    if window.weekdays != timing.ALL_WEEKDAYS:
        data["weekdays"] = [timing.WEEKDAYS[day] for day in sorted(window.weekdays)]
    return data


def _sequence_data(sequence: SequenceSpec) -> dict[str, Any]:
    data: dict[str, Any] = {"key": sequence.key, "name": sequence.name}
    if sequence.description:
        data["description"] = sequence.description
    if not sequence.active:
        data["active"] = False
    if sequence.reenroll != goals.ReenrollPolicy.AFTER_ENDED.value:
        data["reenroll"] = sequence.reenroll
    exit_data: dict[str, Any] = {}
    if sequence.exit_reaches_group:
        exit_data["reaches_group"] = sequence.exit_reaches_group
    if sequence.exit_leaves_group:
        exit_data["leaves_group"] = sequence.exit_leaves_group
    if not sequence.exit_converted:
        exit_data["converted"] = False
    if not sequence.exit_routed_to_sales:
        exit_data["routed_to_sales"] = False
    if exit_data:
        data["exit"] = exit_data
    windows = {_window_of(step) for step in sequence.steps}
    shared = windows.pop() if len(windows) == 1 else timing.Window()
    if _window_data(shared):
        data["send_window"] = _window_data(shared)
    steps = []
    for step in sequence.steps:
        step_data: dict[str, Any] = {}
        wait = {name: value for name, value in (("days", step.wait_days), ("hours", step.wait_hours)) if value}
        if wait:
            step_data["wait"] = wait
        if _window_of(step) != shared:
            step_data["send_window"] = _window_data(_window_of(step))
        if step.campaign:
            step_data["campaign"] = step.campaign
        step_data["subject"] = step.subject
        step_data["text"] = step.text
        if step.html:
            step_data["html"] = step.html
        if step.language:
            step_data["language"] = step.language
        if step.translations:
            step_data["translations"] = {
                code: {"subject": subject, "text": text, **({"html": html} if html else {})}
                for code, subject, text, html in step.translations
            }
        steps.append(step_data)
    data["steps"] = steps
    return data
