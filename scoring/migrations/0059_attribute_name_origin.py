"""Where each custom attribute name Leadflow knows came from (a trusted sender, a rule, a
tracked form, a key used in web pages), shown in the admin beside the name. Names a page
brought stay a page's; the others were recorded before their origin was, and say so. The
names the fit rules (live and drafts) test are recorded as a rule's, as saving a rule
records them from now on.

Marketing reads the names and deletes them (a name a page brought frees its place); sales
managers read them."""

from typing import Any

from django.db import migrations, models

from scoring import group_permissions

MARKETING = [("scoring", "view_attributename"), ("scoring", "delete_attributename")]
SALES_MANAGERS = [("scoring", "view_attributename")]
PREFIX = "attributes."


def _origins(apps: Any, schema_editor: Any) -> None:
    names = apps.get_model("scoring", "AttributeName")
    names.objects.filter(from_a_page=True).update(origin="page")


def _from_a_page(apps: Any, schema_editor: Any) -> None:
    names = apps.get_model("scoring", "AttributeName")
    names.objects.filter(origin="page").update(from_a_page=True)


def _rules_names(apps: Any, schema_editor: Any) -> None:
    conditions = apps.get_model("scoring", "RuleCondition")
    names = apps.get_model("scoring", "AttributeName")
    # The live model's rules and the drafts', not those of versions retired (kept only as history).
    tested_now = models.Q(rule__version__isnull=True) | models.Q(rule__version__status="draft")
    fields = conditions.objects.filter(tested_now, rule__dimension="fit", field__startswith=PREFIX).values_list(
        "field", flat=True
    )
    tested = sorted({field.removeprefix(PREFIX) for field in fields} - {""})
    names.objects.bulk_create([names(name=name, origin="rule") for name in tested], ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("scoring", "0058_attribute_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="attributename",
            name="origin",
            field=models.CharField(
                choices=[
                    ("writer", "Written by a trusted sender"),
                    ("rule", "Tested by a rule"),
                    ("form", "A tracked form's field"),
                    ("page", "Brought by a key used in web pages"),
                    ("earlier", "Known before Leadflow recorded where names came from"),
                ],
                default="earlier",
                max_length=10,
                verbose_name="where it came from",
            ),
        ),
        migrations.RunPython(_origins, _from_a_page),
        migrations.RemoveField(model_name="attributename", name="from_a_page"),
        migrations.AlterField(
            model_name="attributename",
            name="origin",
            field=models.CharField(
                choices=[
                    ("writer", "Written by a trusted sender"),
                    ("rule", "Tested by a rule"),
                    ("form", "A tracked form's field"),
                    ("page", "Brought by a key used in web pages"),
                    ("earlier", "Known before Leadflow recorded where names came from"),
                ],
                default="writer",
                max_length=10,
                verbose_name="where it came from",
            ),
        ),
        migrations.RunPython(_rules_names, migrations.RunPython.noop),
        group_permissions.granting({"Marketing": MARKETING, "Sales managers": SALES_MANAGERS}),
    ]
