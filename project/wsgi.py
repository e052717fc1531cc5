import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()

# Celery's message sender, built now rather than by the first request that asks a worker
# for something: building it imports Celery's events and costs about 160 ms of processor
# time, which the first such request of every web process paid. Nothing connects to the
# broker here (the first message still does), so the web starts with the broker down.
from project.celery import app as celery_app  # noqa: E402

celery_app.amqp.send_task_message  # noqa: B018

# What the process holds once Django is set up is never freed: out of the cyclic garbage
# collector's reach, it is not walked again at every full collection (as for the workers,
# project/celery.py).
gc.freeze()
