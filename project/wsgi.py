import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()

# Celery's message sender, built at start rather than by the first request that enqueues
# scoring (see message_sender_build); nothing connects to the broker yet.
from project.celery import message_sender_build  # noqa: E402

message_sender_build()

# What the process holds once Django is set up is never freed: out of the cyclic garbage
# collector's reach, it is not walked again at every full collection (as for the workers,
# project/celery.py).
gc.freeze()
