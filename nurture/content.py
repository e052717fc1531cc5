"""Nurture email content: compile step templates, render a message, track it.

Step templates use the Django template language. They see plain data, not
model instances (``lead`` is a dict of the lead's fields and custom
``attributes``; ``step`` and ``sequence`` likewise): a template cannot reach
the lead's owner or run a query per message, which keeps a batch's query
count flat. The HTML body is autoescaped and placed in the layout
``templates/nurture/email/base.html``; the text body in ``base.txt``.

Every ``http(s)`` link the step's HTML and text templates write is rewritten to a signed
click-tracking link, an open pixel is appended to the HTML, and the message carries the one-click
unsubscribe headers of RFC 8058. Absolute URLs start with
``settings.LEADFLOW_PUBLIC_URL``.

Only the templates' own text is tracked, never an address a value brings (``{{ lead.first_name }}``):
anyone may post a tracked form, and a signed link to the site of their choosing would make
Leadflow's links redirect anywhere. :func:`compile_step` marks the templates' text, the marks
go through rendering, and the tracking reads which parts of the message they surround.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core import signing
from django.template import Context, Engine, Template
from django.template.base import Origin, TextNode
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import mark_safe

from nurture import links
from scoring import lead_fields

UNSUBSCRIBE_SALT = "nurture.unsubscribe"

# Lead fields a template may use, besides the custom attributes.
LEAD_TEMPLATE_FIELDS = lead_fields.TEMPLATE

_LINK = re.compile(r"(<a\b[^>]*?\bhref\s*=\s*)([\"'])(.*?)\2", re.IGNORECASE | re.DOTALL)
# A web address in the text part: up to a space or a character no address holds as such.
_TEXT_LINK = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
# What ends a sentence or closes a bracket or a quote («…», “…”) right after an address, rather than
# being part of it.
_TRAILING = (
    ".,;:!?)]}"
    "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}\N{RIGHT DOUBLE QUOTATION MARK}"
    "\N{RIGHT SINGLE QUOTATION MARK}\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
)
# Where a link goes: its scheme and host (with port and user), up to what ends them.
_SITE = re.compile(r"\s*https?://[^/?#\\\s]*", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


# Step templates come from the admin, not from a file. Giving them a name lets Django
# resolve a relative {% include "./…" %} and refuse one pointing above the templates
# folder ("../pyproject.toml") as a syntax error; a nameless template fails there
# with an AttributeError instead.
STEP_ORIGIN = Origin(name="<nurture step>", template_name="step")


# Around the text a step's template writes itself (private-use characters, taken out of
# every value a template is given, so no value can pass for the template's text).
WRITTEN_START = "\ue000"
WRITTEN_END = "\ue001"
_WRITTEN_MARKS = re.compile(f"({WRITTEN_START}|{WRITTEN_END})")
_NO_MARKS = str.maketrans("", "", WRITTEN_START + WRITTEN_END)


@cache
def engine() -> Engine:
    """The engine for emails: the project's template folders, no request context,
    debug on so syntax errors carry their line."""
    return Engine(
        dirs=[str(settings.BASE_DIR / "templates")],
        debug=True,
        autoescape=True,
        libraries={"i18n": "django.templatetags.i18n"},
    )


@dataclass(frozen=True)
class TemplateProblem:
    field: str  # "subject", "text" or "html"
    message: str


class TemplateProblems(Exception):
    def __init__(self, problems: list[TemplateProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class CompiledStep:
    subject: Template
    text: Template
    html: Template | None


def _describe(exc: Exception) -> str:
    info = getattr(exc, "template_debug", None)
    message = str(exc)
    if info and info.get("line") and "line" not in message:
        return f"line {info['line']}: {message}"
    return message


def _unclosed(template: Template) -> str | None:
    """The problem of a ``{{`` or ``{%`` never closed: Django's templates keep it as text,
    so the email would go out saying ``{{ lead.first_name`` to every lead."""
    for node in template.nodelist.get_nodes_by_type(TextNode):
        assert isinstance(node, TextNode)
        for opening, closing in (("{{", "}}"), ("{%", "%}")):
            if (at := node.s.find(opening)) >= 0:
                first = node.token.lineno if node.token is not None else None
                where = f"line {first + node.s.count(chr(10), 0, at)}: " if first is not None else ""
                return f"{where}'{opening}' is never closed with '{closing}'"
    return None


def compile_step(*, subject: str, text: str, html_body: str) -> CompiledStep:
    """Compile a step's three templates; raise :class:`TemplateProblems` naming each broken one."""
    problems: list[TemplateProblem] = []
    compiled: dict[str, Template | None] = {}
    for name, source in (("subject", subject), ("text", text), ("html", html_body)):
        if name == "html" and not source.strip():
            compiled[name] = None
            continue
        try:
            template = compiled[name] = Template(source, origin=STEP_ORIGIN, engine=engine())
        except Exception as exc:  # noqa: BLE001 - whatever loading a template raises is a problem of its field
            problems.append(TemplateProblem(name, _describe(exc)))
            continue
        if unclosed := _unclosed(template):
            problems.append(TemplateProblem(name, unclosed))
    if problems:
        raise TemplateProblems(problems)
    subject_template, text_template = compiled["subject"], compiled["text"]
    assert subject_template is not None
    assert text_template is not None
    for marked in (text_template, compiled["html"]):
        if marked is not None:
            _mark_written(marked)
    return CompiledStep(subject_template, text_template, compiled["html"])


def _mark_written(template: Template) -> None:
    """Surround the text ``template`` writes itself (not what its tags and values render)
    with :data:`WRITTEN_START` and :data:`WRITTEN_END`, for :func:`track_text` and
    :func:`track_html` to track only its links."""
    for node in template.nodelist.get_nodes_by_type(TextNode):
        assert isinstance(node, TextNode)
        if node.s:
            node.s = f"{WRITTEN_START}{node.s}{WRITTEN_END}"


class Written:
    """Which parts of a message the step's template wrote itself: a marked message
    (:func:`_mark_written`) read into its text without the marks (``text``) and the
    spans of it the marks surrounded."""

    def __init__(self, marked: str) -> None:
        pieces: list[str] = []
        self.spans: list[tuple[int, int]] = []
        written, at = False, 0
        for piece in _WRITTEN_MARKS.split(marked):
            if piece in (WRITTEN_START, WRITTEN_END):
                written = piece == WRITTEN_START
            elif piece:
                if written and self.spans and self.spans[-1][1] == at:
                    self.spans[-1] = (self.spans[-1][0], at + len(piece))
                elif written:
                    self.spans.append((at, at + len(piece)))
                pieces.append(piece)
                at += len(piece)
        self.text = "".join(pieces)

    def covers(self, start: int, end: int) -> bool:
        """Whether the template wrote all of ``text[start:end]``."""
        return any(first <= start and end <= last for first, last in self.spans)

    def site_written(self, start: int, address: str) -> bool:
        """Whether the template wrote where ``address`` (at ``start`` of the text) goes: its
        scheme and host, and what ends the host (a value after it changes only the path or
        query on that site; one that could still lengthen the host is not the template's)."""
        site = _SITE.match(address)
        end = len(address) if site is None else min(site.end() + 1, len(address))
        return self.covers(start, start + end)


def _unmarked(value: Any) -> Any:
    """``value`` (a template's data: text, numbers, lists and mappings of them) without
    :data:`WRITTEN_START` and :data:`WRITTEN_END` in any text, a mapping's keys included (a
    template may print an attribute's name)."""
    if isinstance(value, str):
        return value.translate(_NO_MARKS) if WRITTEN_START in value or WRITTEN_END in value else value
    if isinstance(value, Mapping):
        return {_unmarked(key): _unmarked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_unmarked(item) for item in value]
    return value


def lead_context(lead: Any) -> dict[str, Any]:
    """The lead as a template sees it (plain data)."""
    data: dict[str, Any] = {name: getattr(lead, name, "") or "" for name in LEAD_TEMPLATE_FIELDS}
    data["name"] = f"{data['first_name']} {data['last_name']}".strip()
    data["attributes"] = dict(getattr(lead, "attributes", None) or {})
    data["id"] = getattr(lead, "pk", None)
    return data


def site_language() -> str:
    """The site's language (``LEADFLOW_LANGUAGE``), as a language code: "en", "es"."""
    return language_code(settings.LANGUAGE_CODE) or settings.LANGUAGES[0][0]


def language_code(value: object) -> str | None:
    """A language Leadflow writes in, from what a lead's ``language`` attribute says:
    "es", "ES", "es-CR" and "es_CR" are Spanish; anything else is None."""
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in {known for known, _name in settings.LANGUAGES} else None


def unsubscribe_token(*, lead_id: int, delivery_id: int | None = None) -> str:
    payload: dict[str, int] = {"l": lead_id}
    if delivery_id is not None:
        payload["d"] = delivery_id
    return signing.dumps(payload, salt=UNSUBSCRIBE_SALT)


def unsubscribe_payload(token: str) -> dict[str, int]:
    """The lead (and delivery) a token was made for; raises ``signing.BadSignature`` if tampered."""
    data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    if not isinstance(data, dict) or not isinstance(data.get("l"), int):
        raise signing.BadSignature("not an unsubscribe token")
    return data


def absolute(path: str) -> str:
    return f"{settings.LEADFLOW_PUBLIC_URL.rstrip('/')}{path}"


def unsubscribe_url(*, lead_id: int, delivery_id: int | None = None) -> str:
    return absolute(
        reverse("nurture:unsubscribe", kwargs={"token": unsubscribe_token(lead_id=lead_id, delivery_id=delivery_id)})
    )


@dataclass(frozen=True)
class Tracking:
    """What the open pixel and click links say about the message (signed into them)."""

    lead_id: int
    campaign: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str | None
    headers: dict[str, str]


def render(
    compiled: CompiledStep,
    *,
    lead: Mapping[str, Any],
    step: Mapping[str, Any],
    sequence: Mapping[str, Any],
    unsubscribe: str,
    tracking: Tracking | None,
    language: str = "",
) -> Message:
    """Render one message. ``tracking`` None (previews) leaves links and pixel out.
    Leadflow's own words (the footer's unsubscribe line) are in ``language``, the
    language the step's content is written in (empty: the site's).

    Raises whatever a template raises while rendering (a filter's error…).
    """
    context = {
        "lead": _unmarked(lead),
        "step": _unmarked(step),
        "sequence": _unmarked(sequence),
        "unsubscribe_url": unsubscribe,
    }
    subject = _SPACES.sub(" ", compiled.subject.render(Context(context, autoescape=False))).strip()
    text_body = compiled.text.render(Context(context, autoescape=False))
    words = language_code(language) or site_language()
    with translation.override(words):
        text: str = (
            engine()
            .get_template("nurture/email/base.txt")
            .render(Context({**context, "body": text_body}, autoescape=False))
        )
    html_message: str | None = None
    if compiled.html is not None:
        body = compiled.html.render(Context(context))
        layout = engine().get_template("nurture/email/base.html")
        with translation.override(words):
            html_message = layout.render(
                Context({**context, "subject": subject, "body": mark_safe(body), "language": words})  # noqa: S308
            )
        if tracking is not None:
            html_message = track_html(html_message, tracking=tracking, unsubscribe=unsubscribe)
        else:
            html_message = Written(html_message).text
    text = track_text(text, tracking=tracking, unsubscribe=unsubscribe) if tracking is not None else Written(text).text
    headers = {
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    # Plain str, not the SafeString templates return: whoever shows a message
    # (the admin's preview) must escape it.
    return Message(
        subject=_plain(subject),
        text=_plain(text),
        html=_plain(html_message) if html_message is not None else None,
        headers=headers,
    )


def _plain(value: str) -> str:
    return "".join((value,))


def _click(target: str, *, tracking: Tracking) -> str:
    return absolute(
        links.click_url(
            lead_id=tracking.lead_id,
            url=target,
            campaign=tracking.campaign,
            properties=dict(tracking.properties),
        )
    )


def _own_links() -> tuple[str, ...]:
    """The beginnings of Leadflow's own links in an email (click, open, unsubscribe), which are not tracked again."""
    names = ("tracking:click", "tracking:open", "nurture:unsubscribe")
    return tuple(absolute(reverse(name, args=["-"]).partition("-")[0]) for name in names)


def track_text(marked: str, *, tracking: Tracking, unsubscribe: str) -> str:
    """A text body (marked, see :func:`_mark_written`) without its marks, each http(s)
    address its template wrote but the unsubscribe link rewritten to a signed click link,
    as :func:`track_html` does its links. Punctuation right after an address (a full stop,
    a closing bracket with no opening one in it) stays after the link; an address that
    cannot be tracked (``https://`` with no host), or whose site a value wrote, stays as
    written."""
    written = Written(marked)

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(0)
        while target and target[-1] in _TRAILING:
            if target[-1] == ")" and target.count("(") >= target.count(")"):
                break
            target = target[:-1]
        rest = match.group(0)[len(target) :]
        if target == unsubscribe or target.startswith(_own_links()):
            return match.group(0)
        if not written.site_written(match.start(), target):
            return match.group(0)
        try:
            return _click(target, tracking=tracking) + rest
        except ValueError:
            return match.group(0)

    return _TEXT_LINK.sub(rewrite, written.text)


def track_html(marked: str, *, tracking: Tracking, unsubscribe: str) -> str:
    """An HTML document (marked, see :func:`_mark_written`) without its marks, each http(s)
    link its template wrote but the unsubscribe link rewritten to a signed click link (not
    one whose site a value wrote); the open pixel appended."""
    written = Written(marked)

    def rewrite(match: re.Match[str]) -> str:
        target = html.unescape(match.group(3)).strip()
        if not target.lower().startswith(("http://", "https://")) or target == unsubscribe:
            return match.group(0)
        if not written.site_written(match.start(3), match.group(3)):
            return match.group(0)
        tracked = _click(target, tracking=tracking)
        return f"{match.group(1)}{match.group(2)}{html.escape(tracked)}{match.group(2)}"

    document = _LINK.sub(rewrite, written.text)
    pixel_url = absolute(
        links.open_url(lead_id=tracking.lead_id, campaign=tracking.campaign, properties=dict(tracking.properties))
    )
    pixel = f'<img src="{html.escape(pixel_url)}" width="1" height="1" alt="" style="display:block;border:0">'
    found = _BODY_END.search(document)
    if found is None:
        return document + pixel
    return document[: found.start()] + pixel + document[found.start() :]


SAMPLE_LEAD: dict[str, Any] = {
    "id": 0,
    "email": "ana.sample@example.com",
    "first_name": "Ana",
    "last_name": "Sample",
    "name": "Ana Sample",
    "title": "Teacher",
    "department": "",
    "company": "Sample School",
    "industry": "Education",
    "country": "Costa Rica",
    "city": "San José",
    "lifecycle_stage": "lead",
    "attributes": {},
}


def template_problems(
    *,
    subject: str,
    text: str,
    html_body: str,
    lead: Mapping[str, Any] | None = None,
    step: Mapping[str, Any] | None = None,
    sequence: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """What is wrong with a step's templates, by field ("subject", "text", "html"):
    syntax errors (with their line), then errors raised rendering them for
    ``lead`` (a sample lead by default). Empty when all is well."""
    try:
        compiled = compile_step(subject=subject, text=text, html_body=html_body)
    except TemplateProblems as exc:
        return {p.field: p.message for p in exc.problems}
    context = {
        "lead": lead if lead is not None else SAMPLE_LEAD,
        "step": step or {"position": 1, "campaign": "sample"},
        "sequence": sequence or {"key": "sample", "name": "Sample"},
        "unsubscribe_url": absolute("/n/u/sample"),
    }
    problems: dict[str, str] = {}
    for name, template, autoescape in (
        ("subject", compiled.subject, False),
        ("text", compiled.text, False),
        ("html", compiled.html, True),
    ):
        if template is None:
            continue
        try:
            template.render(Context(context, autoescape=autoescape))
        except Exception as exc:  # noqa: BLE001 - any error a template raises is reported on its field
            problems[name] = f"rendering for a sample lead failed: {_describe(exc)}"
    return problems


def check_templates(subject: str, text: str, html_body: str) -> dict[str, str]:
    """:func:`template_problems` with the sample lead (for sequence files)."""
    return template_problems(subject=subject, text=text, html_body=html_body)
