"""Marketing names and describes the scoring model it designs (the model file's `name`
and `description`, also editable in the admin); there is one row, never deleted."""

from django.db import migrations

from scoring import group_permissions

MARKETING = [
    ("scoring", "view_modelinfo"),
    ("scoring", "add_modelinfo"),
    ("scoring", "change_modelinfo"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0007_marketing_set_aside_and_suppression"),
        ("scoring", "0017_model_name_and_description"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [group_permissions.granting({"Marketing": MARKETING})]
