"""How accounts are scored, as the model file holds it (``accounts``): the roll-up of
their leads' scores and the account fit rules, written by key and read back."""

from __future__ import annotations

from scoring import accounts as pure
from scoring import model_file
from scoring.models import AccountRule, AccountRuleCondition, AccountSettings
from scoring.services.accounts import (
    account_rules_changed,
    account_rules_lock,
    account_settings_get,
    account_settings_set,
)


def account_rule_spec(rule: AccountRule) -> model_file.AccountRuleSpec:
    """An account fit rule as the model file writes it (its conditions prefetched)."""
    return model_file.AccountRuleSpec(
        key=rule.key,
        name=rule.name,
        points=rule.points,
        match=rule.match,
        conditions=tuple(model_file.ConditionSpec(c.field, c.operator, c.value) for c in rule.conditions.all()),
        active=rule.active,
    )


def account_scoring_import(spec: model_file.AccountsSpec) -> str:
    """Make the roll-up and the account fit rules those of ``spec`` (call in a transaction).

    Rules are matched by key: made, or updated where the file says otherwise (their
    conditions rewritten); a rule the file leaves out is deactivated, not deleted, as the
    account ledger cites it. When anything changed, every account's scores are brought up
    to date by a worker once the transaction commits, as after a change in the admin
    (the nightly recompute otherwise): ledger rows with the rule as cause, so the cached
    scores stay the ledger's sums. Returns the summary's line."""
    # Before the rules are read: a rule saved in the admin meanwhile is one this file leaves out.
    account_rules_lock()
    existing = {
        rule.key: rule for rule in AccountRule.objects.select_for_update().prefetch_related("conditions").order_by("pk")
    }
    created = updated = 0
    for wanted in spec.rules:
        rule = existing.get(wanted.key)
        if rule is not None and account_rule_spec(rule) == wanted:
            continue
        rule, made = AccountRule.objects.update_or_create(
            key=wanted.key,
            defaults={"name": wanted.name, "points": wanted.points, "match": wanted.match, "active": wanted.active},
        )
        created, updated = created + made, updated + (not made)
        AccountRuleCondition.objects.filter(rule=rule).delete()
        AccountRuleCondition.objects.bulk_create(
            AccountRuleCondition(rule=rule, position=n, field=c.field, operator=c.operator, value=c.value)
            for n, c in enumerate(wanted.conditions)
        )
    in_file = {rule.key for rule in spec.rules}
    deactivated = sorted(key for key, rule in existing.items() if key not in in_file and rule.active)
    AccountRule.objects.filter(key__in=deactivated).update(active=False)
    config = account_settings_get()
    top_n = spec.top_n if spec.top_n is not None else config.top_n
    rollup_changed = (config.rollup, config.top_n) != (spec.rollup, top_n)
    # Recomputes every account (roll-up and fit) once this commits, when the roll-up changed.
    account_settings_set(rollup=spec.rollup, top_n=top_n)
    if (created or updated or deactivated) and not rollup_changed:
        account_rules_changed()
    line = f"account rules: {created} created, {updated} updated"
    if deactivated:
        line += f", deactivated (not in the file): {', '.join(deactivated)}"
    if rollup_changed:
        line += f"; roll-up: {spec.rollup}" + (f" of {top_n}" if spec.rollup == pure.Rollup.TOP_AVERAGE else "")
    return line


def account_scoring_export() -> model_file.AccountsSpec | None:
    """The roll-up and every account fit rule (inactive ones too), for the model file; None
    while both are as on a new installation (no rules, the sum), so such a model's file
    stays as it was before accounts were in it."""
    ordered = AccountRule.objects.prefetch_related("conditions").order_by("key")
    rules = tuple(account_rule_spec(rule) for rule in ordered)
    config = AccountSettings.objects.filter(pk=1).first()
    rollup = config.rollup if config is not None else pure.Rollup.SUM.value
    if not rules and rollup == pure.Rollup.SUM:
        return None
    top_n = config.top_n if config is not None and rollup == pure.Rollup.TOP_AVERAGE else None
    return model_file.AccountsSpec(rollup=rollup, top_n=top_n, rules=rules)
