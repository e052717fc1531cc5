"""The sales queue page: reps see their leads and act on them with POST forms.

Every view needs a signed-in user with ``routing.work_queue`` (the Sales group)
who is a rep; a rep sees and acts on items of their own team only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import get_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_stubs_ext import StrOrPromise

from people.names import isolated
from routing import sales, selectors
from routing.models import Outcome, QueueItem, Rep
from scoring.typed import amount_from_text, page_from_text

# The verbs in the action URLs, and the item_act kind each one is.
VERBS = {
    "accept": Outcome.Kind.ACCEPTED,
    "reject": Outcome.Kind.REJECTED,
    "qualify": Outcome.Kind.QUALIFIED,
    "disqualify": Outcome.Kind.DISQUALIFIED,
    "win": Outcome.Kind.WON,
    "lose": Outcome.Kind.LOST,
    "release": Outcome.Kind.RELEASED,  # sales.item_release
}
# The fields of the action forms, as the rep reads them.
FIELD_LABELS = {
    "reason": gettext_lazy("Reason"),
    "amount": gettext_lazy("Deal amount"),
    "budget": gettext_lazy("Budget"),
    "authority": gettext_lazy("Authority"),
    "need": gettext_lazy("Need"),
    "timeline": gettext_lazy("Timeline"),
}
DONE = {
    Outcome.Kind.ACCEPTED: gettext_lazy("Accepted {lead}."),
    Outcome.Kind.REJECTED: gettext_lazy("Rejected {lead}; the reason is kept."),
    Outcome.Kind.QUALIFIED: gettext_lazy("Qualified {lead}."),
    Outcome.Kind.DISQUALIFIED: gettext_lazy("Disqualified {lead}; the reason is kept."),
    Outcome.Kind.WON: gettext_lazy("Marked {lead} won."),
    Outcome.Kind.LOST: gettext_lazy("Marked {lead} lost; the reason is kept."),
    Outcome.Kind.RELEASED: gettext_lazy("{lead} is back in {team}'s queue, for any rep to claim."),
}


@dataclass(frozen=True)
class ReasonForm:
    """An action that asks the rep why: a button that opens a one-field form."""

    kind: str  # the item_act kind, as in QueueRow.actions
    verb: str  # in the action's URL
    label: StrOrPromise
    question: StrOrPromise
    placeholder: StrOrPromise
    style: str = "btn-quiet"
    required: bool = True


REASON_FORMS = (
    ReasonForm(
        Outcome.Kind.LOST,
        "lose",
        gettext_lazy("Mark lost"),
        gettext_lazy("Why was it lost?"),
        gettext_lazy("e.g. chose a competitor"),
    ),
    ReasonForm(
        Outcome.Kind.REJECTED,
        "reject",
        gettext_lazy("Reject"),
        gettext_lazy("Why is it not ready for sales?"),
        gettext_lazy("e.g. student, no buying intent"),
    ),
    ReasonForm(
        Outcome.Kind.DISQUALIFIED,
        "disqualify",
        gettext_lazy("Disqualify"),
        gettext_lazy("Which of budget, authority, need or timeline is missing?"),
        gettext_lazy("e.g. no budget this year"),
        "btn-danger",
    ),
    ReasonForm(
        Outcome.Kind.RELEASED,
        "release",
        gettext_lazy("Release to the queue"),
        gettext_lazy("Why hand it back? (optional)"),
        gettext_lazy("e.g. on holiday until the 20th"),
        required=False,
    ),
)

RepView = Callable[..., HttpResponse]


def rep_required(view: RepView) -> RepView:
    """Sign-in, the ``routing.work_queue`` permission and a Rep row, or no entry;
    the view gets the rep after the request."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.has_perm("routing.work_queue"):
            raise PermissionDenied(_("Only sales reps work the queue."))
        try:
            rep = sales.rep_of(user)
        except sales.ActionRefused as exc:
            raise PermissionDenied(str(exc)) from None
        return view(request, rep, *args, **kwargs)

    return wrapper


@require_GET
@rep_required
def queue(request: HttpRequest, rep: Rep) -> HttpResponse:
    page = page_from_text(request.GET.get("page", ""))
    return _queue_page(request, rep, page=page, sort=request.GET.get("sort", ""))


@dataclass(frozen=True)
class Refused:
    """A form the server refused: its item and action, what the rep typed (shown again)
    and each field's problem (shown at the field)."""

    item_id: int
    verb: str
    values: dict[str, str]
    problems: dict[str, str]

    @property
    def first(self) -> str:
        """The first field at fault: the cursor goes there."""
        return next(iter(self.problems), "")


def _queue_page(
    request: HttpRequest, rep: Rep, *, page: int, status: int = 200, sort: str = "", refused: Refused | None = None
) -> HttpResponse:
    sort = sort if sort in selectors.SORTS else "score"
    queue_page = selectors.queue_page(rep=rep, page=page, sort=sort)
    return render(
        request,
        "routing/sales/queue.html",
        {
            "rep": rep,
            "team": rep.team,
            "queue": queue_page,
            "page_number": queue_page.page.number,
            "sort": sort,
            # The scorecard whose score orders the team's queue (None: the lead's score).
            "scorecard": rep.team.scorecard if sort == "score" else None,
            "sort_query": "&sort=probability" if sort == "probability" else "",
            "reason_forms": REASON_FORMS,
            "reason_max": sales.REASON_MAX_LENGTH,
            "bant_max": sales.BANT_MAX_LENGTH,
            # A lead's name links to its timeline in the admin, for those who may open it there.
            "lead_admin": request.user.is_staff and request.user.has_perm("scoring.view_lead"),
            "refused": refused,
        },
        status=status,
    )


@require_POST
@rep_required
def claim(request: HttpRequest, rep: Rep, item_id: int) -> HttpResponse:
    item = _item_of_team(item_id, rep)
    try:
        sales.item_claim(item_id=item.pk, user=request.user)  # type: ignore[arg-type]
    except sales.ActionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Claimed {lead}. It is yours: accept or reject it.").format(lead=_label(item)))
    return _back(request)


@require_POST
@rep_required
def act(request: HttpRequest, rep: Rep, item_id: int, verb: str) -> HttpResponse:
    kind = VERBS.get(verb)
    if kind is None:
        raise Http404(f"No action '{verb}'.")
    item = _item_of_team(item_id, rep)
    bant = None
    if kind == Outcome.Kind.QUALIFIED:
        bant = sales.Bant(**{name: request.POST.get(name, "") for name in sales.BANT_FIELDS})
    try:
        if kind == Outcome.Kind.RELEASED:
            sales.item_release(item_id=item.pk, user=request.user, reason=request.POST.get("reason", ""))  # type: ignore[arg-type]
        else:
            try:
                amount = _amount(request.POST.get("amount", "")) if kind == Outcome.Kind.WON else None
            except sales.InputRefused:
                # A lead the rep may not win (a teammate's) is refused as such, not its amount.
                sales.item_act_check(item_id=item.pk, user=request.user, kind=kind)  # type: ignore[arg-type]
                raise
            sales.item_act(
                item_id=item.pk,
                user=request.user,  # type: ignore[arg-type]
                kind=kind,
                reason=request.POST.get("reason", ""),
                bant=bant,
                amount=amount,
            )
    except sales.InputRefused as exc:
        # What was typed is wrong, not the moment: the page again, the form open with what
        # was typed, each problem at its field (and together in the banner).
        fields = " ".join(f"{FIELD_LABELS[field]}: {problem}" for field, problem in exc.problems.items())
        messages.error(request, f"{_label(item)}: {fields}")
        typed = {name: request.POST.get(name, "") for name in ("reason", "amount", *sales.BANT_FIELDS)}
        refused = Refused(item_id=item.pk, verb=verb, values=typed, problems=exc.problems)
        page = page_from_text(request.POST.get("page", ""))
        return _queue_page(request, rep, page=page, status=400, sort=request.POST.get("sort", ""), refused=refused)
    except sales.ActionRefused as exc:
        messages.error(request, f"{_label(item)}: {exc}")
    else:
        messages.success(request, DONE[kind].format(lead=_label(item), team=isolated(rep.team.name)))
    return _back(request)


def _amount(text: str) -> Decimal | None:
    """The deal's amount as typed, grouped as the page's language writes figures, with its
    currency or not (:func:`scoring.typed.amount_from_text`); blank: not known. Anything
    else is InputRefused, never guessed."""
    try:
        return amount_from_text(
            text, thousands=get_format("THOUSAND_SEPARATOR"), decimal=get_format("DECIMAL_SEPARATOR")
        )
    except ValueError:
        raise sales.InputRefused({"amount": _("a number such as 12500 or 12500.50, or nothing.")}) from None


def _item_of_team(item_id: int, rep: Rep) -> QueueItem:
    item = selectors.queue_item_of_team(item_id=item_id, rep=rep)
    if item is None:
        raise Http404(_("This lead is not in your team's queue."))
    return item


def _label(item: QueueItem) -> str:
    return isolated(item.lead.name or str(item.lead))


def _back(request: HttpRequest) -> HttpResponse:
    """To the queue page the form was on, in its order (a page number and a known order,
    never a URL from the form)."""
    query: dict[str, object] = {}
    if (page := page_from_text(request.POST.get("page", ""))) > 1:
        query["page"] = page
    if request.POST.get("sort") == "probability":
        query["sort"] = "probability"
    return HttpResponseRedirect(reverse("sales:queue", query=query or None))
