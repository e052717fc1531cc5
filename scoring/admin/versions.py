"""Model versions in the admin: the live version, drafts and the history; a draft's
groups, rules and decay edited apart from the live model; the publish screen; restoring
an earlier version as a draft."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from scoring import model_file, rule_matching, selectors, sentences, typed
from scoring.admin.figures import GroupedFiguresAdmin
from scoring.admin.history import POLICY_FIELDS, DecayPolicyForm
from scoring.admin.rules import RuleConditionInline, ScoringRuleAdmin
from scoring.admin.scorecard_column import DraftScorecardFilter, scorecard_choices, scorecard_column
from scoring.models import (
    DecayPolicy,
    DraftDecayPolicy,
    DraftScoreGroup,
    DraftScoringRule,
    ModelVersion,
    Scorecard,
    ScoreGroup,
    ScoringRule,
)
from scoring.services import model_rules_warnings, replay_latest, replay_running, versions


def _user(request: HttpRequest) -> Any:
    return request.user if request.user.is_authenticated else None


def replay_url(version: ModelVersion) -> str | None:
    """Where a draft is replayed over past interactions, when this installation has replays."""
    try:
        return reverse("admin:scoring_replayrun_add") + f"?version={version.pk}"
    except NoReverseMatch:
        return None


class PublishForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Why this version is published, for whoever reads the history."),
    )
    stale_ok = forms.BooleanField(
        required=False, label=_("Publish anyway, replacing the changes made to the live model since")
    )


# A model file is text of a few hundred lines; a larger upload is not one.
MODEL_FILE_MAX_BYTES = 1024 * 1024


class ModelFileForm(forms.Form):
    file = forms.FileField(
        label=_("Model file"),
        help_text=_(
            "A YAML or JSON model file, such as the export of another installation: its scoring part (scorecards, "
            "score groups, rules, decay, event types) becomes a new draft. The live model does not change until "
            "you publish the draft."
        ),
    )
    scoring_only = forms.BooleanField(
        label=_("Only its scoring part"),
        required=False,
        help_text=_(
            "For a whole model's file, such as Leadflow's own export: the draft leaves out what drafts do not "
            "keep (account groups, account scoring, nurture sequences, teams, routing rules, campaigns), which "
            "stays here as it is. Without this, such a file is refused."
        ),
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MODEL_FILE_MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 1 MB: it is not a model file."))
        try:
            return str(upload.read().decode("utf-8"))
        except UnicodeDecodeError:
            raise forms.ValidationError(
                _("The file is not text in UTF-8: save it as UTF-8 and upload it again.")
            ) from None


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    """The scoring model's versions: "Add" starts a draft from the live model."""

    list_display = ["__str__", "status", "created_by", "created_at", "published_by", "published_at", "note", "act"]
    list_display_links = ["__str__"]
    list_filter = ["status"]
    list_select_related = ["created_by", "published_by"]
    fields = ["name", "note"]
    readonly_fields = ["status", "number", "based_on", "created_by", "published_by", "published_at", "contents"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        # Live first, then drafts, then the history, newest first.
        order = Case(
            When(status=ModelVersion.Status.LIVE, then=Value(0)),
            When(status=ModelVersion.Status.DRAFT, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        )
        return super().get_queryset(request).annotate(place=order).order_by("place", "-number", "-created_at")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        context = dict(extra_context or {})
        if versions.live_version() is None:
            context["subtitle"] = gettext(
                "The live model has no version yet: it joins the history as the model before versions "
                "when the first draft is published. Add one to start a draft from it."
            )
        return super().changelist_view(request, context)

    def get_fields(self, request: HttpRequest, obj: ModelVersion | None = None) -> Any:
        if obj is None:
            return ["name"]
        return ["name", "note", *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: ModelVersion | None = None) -> Any:
        if obj is not None and obj.status != ModelVersion.Status.DRAFT:
            return ["name", "note", *self.readonly_fields]
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        if obj is not None and obj.status != ModelVersion.Status.DRAFT:
            return False  # the history is kept as it was; its page is read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        if obj is not None and obj.status != ModelVersion.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> Any:
        return {}  # "Delete selected" would let a draft's delete take the history with it

    def save_model(
        self, request: HttpRequest, obj: ModelVersion, form: forms.ModelForm[ModelVersion], change: bool
    ) -> None:
        if change:
            obj.save(update_fields=["name", "note"])
            return
        draft = versions.draft_create(user=_user(request), name=obj.name)
        obj.pk = draft.pk

    def response_add(
        self, request: HttpRequest, obj: ModelVersion, post_url_continue: str | None = None
    ) -> HttpResponse:
        # Straight to the new draft's page: editing it is what comes next.
        self.message_user(
            request,
            gettext("{draft} made from the live model: edit it, then publish it.").format(draft=obj),
            messages.SUCCESS,
        )
        return redirect("admin:scoring_modelversion_change", obj.pk)

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        versions.draft_discard(draft=obj)

    @admin.display(description="")
    def act(self, obj: ModelVersion) -> SafeString:
        if obj.status == ModelVersion.Status.DRAFT:
            return format_html(
                '<a class="button" href="{}">{}</a>',
                reverse("admin:scoring_modelversion_publish", args=[obj.pk]),
                gettext("Publish…"),
            )
        restore = reverse("admin:scoring_modelversion_restore", args=[obj.pk])
        words = (
            gettext("Restore as draft") if obj.status == ModelVersion.Status.RETIRED else gettext("New draft from it")
        )
        # The changelist is a form (with its CSRF token): the button posts it to the restore view.
        return format_html('<button type="submit" formaction="{}" class="button">{}</button>', restore, words)

    @admin.display(description=_("Contents"))
    def contents(self, obj: ModelVersion) -> SafeString:
        if obj.pk is None:
            return SafeString("")
        context: dict[str, Any] = {
            "version": obj,
            "replay_url": None,
            "event_types": versions.version_spec(obj).get("event_types"),
        }
        if obj.status == ModelVersion.Status.DRAFT:
            # The default scorecard's rows first, then each scorecard's (by key).
            first = F("scorecard__key").asc(nulls_first=True)
            groups = (
                ScoreGroup.all_versions.filter(version=obj).select_related("scorecard").order_by(first, "min_score")
            )
            rules = list(
                ScoringRule.all_versions.filter(version=obj)
                .select_related("scorecard")
                .prefetch_related("conditions")
                .order_by(first, "dimension", "key")
            )
            labels = selectors.event_type_labels()
            context.update(
                draft=True,
                groups=groups,
                rules=[
                    (r, sentences.describe_rule(r.as_pure(list(r.conditions.all())), type_labels=labels)) for r in rules
                ],
                decays=DecayPolicy.all_versions.filter(version=obj).select_related("scorecard").order_by(first),
                scorecards=Scorecard.all_versions.filter(version=obj).exists(),
                stale=versions.draft_is_stale(obj),
                replay_url=replay_url(obj),
            )
        else:
            spec = versions.version_spec(obj)
            context.update(draft=False, groups=spec.get("score_groups", []), spec_rules=spec.get("rules", []))
        return SafeString(render_to_string("admin/scoring/modelversion/contents.html", context))

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:version_id>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="scoring_modelversion_publish",
            ),
            path(
                "<int:version_id>/restore/",
                self.admin_site.admin_view(self.restore_view),
                name="scoring_modelversion_restore",
            ),
            path("import/", self.admin_site.admin_view(self.import_view), name="scoring_modelversion_import"),
            *super().get_urls(),
        ]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """A model file uploaded as a new draft, or the problems it has (each naming its
        place in the file); the live model is not touched."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ModelFileForm(request.POST or None, request.FILES or None)
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            scoring_only, left_out, tick = form.cleaned_data["scoring_only"], [], False
            try:
                spec = model_file.load_text(form.cleaned_data["file"])
                left_out = versions.parts_not_in_drafts(spec)
                tick = bool(left_out) and spec.scoring and not scoring_only
                draft = versions.draft_import(
                    spec=versions.scoring_part_only(spec) if scoring_only else spec, user=_user(request)
                )
            except (model_file.ModelFileError, versions.VersionError) as exc:
                problems = sentences.problems(exc.errors)
                if tick:  # refused for holding what drafts do not keep: the box leaves it out
                    problems.append(
                        gettext(
                            "To make a draft of its scoring part alone, tick “Only its scoring part” and upload "
                            "it again."
                        )
                    )
            except DataError as exc:  # a value the checks let through that its column cannot hold
                problems = [
                    gettext("A value of the file does not fit where the model keeps it: {error}").format(error=exc)
                ]
            else:
                made = gettext("{draft} made from the file: read it, replay it over the last 90 days, then publish it.")
                if left_out:
                    made = gettext(
                        "{draft} made from the file's scoring part; the rest of the file was left out and is as it "
                        "was here. Read the draft, replay it over the last 90 days, then publish it."
                    )
                self.message_user(request, made.format(draft=draft), messages.SUCCESS)
                # What `scoring_model_import --check` warns of: made all the same, as there.
                for warning in sentences.problems(model_rules_warnings(spec)):
                    self.message_user(request, gettext("Warning: {warning}").format(warning=warning), messages.WARNING)
                return redirect("admin:scoring_modelversion_change", draft.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Import a model file as a draft"),
            "opts": self.model._meta,
            "form": form,
            "problems": problems,
        }
        return render(request, "admin/scoring/modelversion/import.html", context)

    def restore_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        """A new draft from an earlier (or the live) version."""
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        version = get_object_or_404(ModelVersion, pk=version_id)
        try:
            draft = versions.version_restore(version=version, user=_user(request))
        except versions.VersionError as exc:
            self.message_user(request, " ".join(sentences.problems(exc.errors)), messages.ERROR)
            return redirect("admin:scoring_modelversion_changelist")
        self.message_user(
            request,
            gettext("{draft} made from {version}: edit it, then publish it.").format(draft=draft, version=version),
            messages.SUCCESS,
        )
        return redirect("admin:scoring_modelversion_change", draft.pk)

    def publish_view(self, request: HttpRequest, version_id: int) -> HttpResponse:
        """What publishing the draft would do (leads crossing thresholds), then publish it."""
        draft = get_object_or_404(ModelVersion, pk=version_id, status=ModelVersion.Status.DRAFT)
        allowed = versions.may_publish(request.user)
        form = PublishForm(request.POST or None, initial={"note": draft.note})
        stale = versions.draft_is_stale(draft)
        if request.method == "POST":
            if not allowed:
                raise PermissionDenied
            if form.is_valid():
                try:
                    done = versions.version_publish(
                        draft=draft,
                        user=_user(request),
                        note=form.cleaned_data["note"],
                        stale_ok=form.cleaned_data["stale_ok"],
                    )
                except versions.VersionStale as exc:
                    form.add_error("stale_ok", " ".join(sentences.problems(exc.errors)))
                except versions.VersionError as exc:
                    form.add_error(None, "; ".join(sentences.problems(exc.errors)))
                else:
                    job = done.job
                    text = gettext("{version} is live.").format(version=done.version)
                    if job:
                        text += " " + ngettext(
                            "Rescoring {count} lead in the background (Rescore jobs, job {job}).",
                            "Rescoring {count} leads in the background (Rescore jobs, job {job}).",
                            job.total,
                        ).format(count=job.total, job=job.pk)
                    self.message_user(request, text, messages.SUCCESS)
                    return redirect("admin:scoring_modelversion_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "draft": draft,
            "form": form,
            "allowed": allowed,
            "stale": stale,
            "moves": versions.publish_crossings(draft=draft),
            "replay": replay_latest(version=draft),
            "replay_running": replay_running(version=draft),
            "replay_url": replay_url(draft),
            "live": versions.live_version(),
            "title": gettext("Publish {draft}").format(draft=draft),
        }
        return render(request, "admin/scoring/modelversion/publish.html", context)


# --- a draft's rows ----------------------------------------------------------------------


class _DraftRowAdmin(GroupedFiguresAdmin[Any]):
    """Shared by a draft's rows' pages: the draft comes from ``?version=`` when adding,
    only drafts' rows can be changed, saving goes back to the draft's page, and the pages
    are reached from the draft (not listed on the admin's home)."""

    # (field, error) pairs unique within one draft (the tables' own constraints hold per draft too).
    unique_in_draft: tuple[tuple[str, StrOrPromise], ...] = ()
    # (field, error) pairs unique within one scorecard of a draft.
    unique_in_scorecard: tuple[tuple[str, StrOrPromise], ...] = ()
    rows_manager = "objects"  # the drafts' rows
    scorecard_fixed = False  # a draft's row may move to another of the draft's scorecards
    list_filter = [DraftScorecardFilter, "version"]

    def _draft_of(self, request: HttpRequest, obj: Any) -> ModelVersion | None:
        if obj is not None:
            return obj.version  # type: ignore[no-any-return]
        version_id = typed.id_from_text(request.GET.get("version") or "")
        if version_id is None:
            return None
        return ModelVersion.objects.filter(pk=version_id, status=ModelVersion.Status.DRAFT).first()

    def get_model_perms(self, request: HttpRequest) -> dict[str, bool]:
        return {}

    def _editable(self, request: HttpRequest, obj: Any) -> bool:
        draft = self._draft_of(request, obj)
        return draft is not None and draft.status == ModelVersion.Status.DRAFT

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (obj is None or self._editable(request, obj)) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (obj is None or self._editable(request, obj)) and super().has_delete_permission(request, obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        version = self._draft_of(request, obj)
        checks = [(field, words, False) for field, words in self.unique_in_draft]
        checks += [(field, words, True) for field, words in self.unique_in_scorecard]

        class Form(form_class):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                scorecard_choices(self, version)  # the draft's own scorecards only

            def clean(self) -> dict[str, Any]:
                cleaned: dict[str, Any] = super().clean()
                if version is None:
                    raise forms.ValidationError(_("Open this page from a draft (Model versions)."))
                self.instance.version = version  # so the model's own checks know it is a draft's row
                card = cleaned.get("scorecard", self.instance.scorecard)
                for field, words, per_scorecard in checks:
                    value = cleaned.get(field)
                    clash = type(self.instance).all_versions.filter(version=version, **{field: value})
                    if per_scorecard:
                        clash = clash.filter(scorecard=card)
                    if field in cleaned and clash.exclude(pk=self.instance.pk).exists():
                        self.add_error(field, words)
                return cleaned

        return Form

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.version = self._draft_of(request, None)
        obj.save()

    def _back(self, obj: Any) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:scoring_modelversion_change", args=[obj.version_id]))

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        if "_continue" in request.POST or "_addanother" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        return self._back(obj)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        if "_continue" in request.POST:
            return super().response_change(request, obj)
        return self._back(obj)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        obj = self.get_object(request, object_id)
        response = super().delete_view(request, object_id, extra_context)
        if request.method == "POST" and obj is not None and isinstance(response, HttpResponseRedirect):
            return self._back(obj)
        return response


@admin.register(DraftScoringRule)
class DraftScoringRuleAdmin(_DraftRowAdmin, ScoringRuleAdmin):
    inlines = [RuleConditionInline]
    list_filter = [DraftScorecardFilter, "version", "dimension", "active"]
    actions: Any = []
    readonly_fields = ["matches"]
    unique_in_draft = (("key", _("The draft has a rule with this key already.")),)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        sets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            sets.insert(1, (_("Now"), {"fields": ["matches"]}))
        return sets

    @admin.display(description=_("Matches"))
    def matches(self, obj: ScoringRule) -> str:
        found = rule_matching.rule_matches(obj)
        return ngettext(
            "matches {count} lead now: {sentence}", "matches {count} leads now: {sentence}", found.leads
        ).format(count=found.leads, sentence=found.sentence)


@admin.register(DraftScoreGroup)
class DraftScoreGroupAdmin(_DraftRowAdmin):
    fields = ["name", "key", "scorecard", "min_score", "leave_below", "description"]
    list_display = ["name", "key", scorecard_column, "min_score", "leave_below", "version"]
    list_select_related = ["scorecard", "version"]
    prepopulated_fields = {"key": ["name"]}
    unique_in_draft = (("key", _("The draft has a group with this key already.")),)
    unique_in_scorecard = (("min_score", _("Another group of this scorecard in the draft has this minimum score.")),)


@admin.register(DraftDecayPolicy)
class DraftDecayPolicyAdmin(_DraftRowAdmin):
    form = DecayPolicyForm
    fields = ["scorecard", *POLICY_FIELDS]
    list_display = ["__str__", scorecard_column, "version"]
    list_select_related = ["scorecard", "version"]
    unique_in_scorecard = (("scorecard", _("This scorecard has a decay policy in the draft already.")),)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # each draft has its policy from the start

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
