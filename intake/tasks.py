from celery import shared_task

from intake import imports


# Long: a file of 100,000 rows takes minutes. Delivered again if the worker dies (acks
# late); the import is idempotent and a second worker skips an import another runs.
@shared_task(name="intake.lead_import", acks_late=True)
def lead_import(import_id: int) -> None:
    imports.lead_import_run(import_id=import_id)
