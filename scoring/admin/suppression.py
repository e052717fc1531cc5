"""The suppression list in the admin: addresses nurture never mails, kept as hashes."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from scoring import suppression
from scoring.models import (
    SuppressedAddress,
)


class SuppressedAddressForm(forms.ModelForm[SuppressedAddress]):
    """Add an address to the suppression list; only its hash is kept."""

    address = forms.EmailField(help_text=_("Kept only as a hash: the list never shows it again."))

    class Meta:
        model = SuppressedAddress
        fields = ["reason"]

    def clean_address(self) -> str:
        address = suppression.address_normalise(self.cleaned_data["address"])
        listed = suppression.addresses_suppressed(addresses=[address])
        if listed:
            raise forms.ValidationError(
                gettext("This address is on the list already ({reason}).").format(reason=listed[address].label)
            )
        return address


@admin.register(SuppressedAddress)
class SuppressedAddressAdmin(admin.ModelAdmin[SuppressedAddress]):
    """Addresses nurture never mails, kept when their leads are erased. Delete an entry
    only when the person has asked to be mailed again."""

    form = SuppressedAddressForm
    list_display = ["short_hash", "reason", "suppressed_at", "erased_at"]
    list_filter = ["reason", ("erased_at", admin.EmptyFieldListFilter)]
    search_fields = ["address_hash"]
    search_help_text = _("A whole email address (case and spaces do not matter).")

    @admin.display(description=_("address (SHA-256)"), ordering="address_hash")
    def short_hash(self, obj: SuppressedAddress) -> str:
        return f"{obj.address_hash[:16]}…"

    def get_fields(self, request: HttpRequest, obj: SuppressedAddress | None = None) -> tuple[str, ...]:
        return ("address", "reason") if obj is None else ("address_hash", "reason", "suppressed_at", "erased_at")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[SuppressedAddress], search_term: str
    ) -> tuple[QuerySet[SuppressedAddress], bool]:
        # Only hashes are stored: look the typed address up by its hash.
        if not search_term.strip():
            return queryset, False
        return queryset.filter(address_hash=suppression.address_hash(search_term)), False

    def save_model(
        self, request: HttpRequest, obj: SuppressedAddress, form: forms.ModelForm[SuppressedAddress], change: bool
    ) -> None:
        # Through the list's one writer; the typed address itself is not kept.
        address = form.cleaned_data["address"]
        suppression.addresses_suppress(addresses=[address], reason=SuppressedAddress.Reason(obj.reason))
        saved = SuppressedAddress.objects.get(address_hash=suppression.address_hash(address))
        obj.pk, obj.address_hash, obj.suppressed_at = saved.pk, saved.address_hash, saved.suppressed_at

    def has_change_permission(self, request: HttpRequest, obj: SuppressedAddress | None = None) -> bool:
        return False  # an entry is added or deleted, never edited
