"""The ASGI entry point: uvicorn (``make run``) and gunicorn's uvicorn workers (docker-compose) serve it.

Under ASGI an open live stream (Server-Sent Events) waits on the event loop instead of holding a
thread, so a thousand open job pages cost a thousand idle connections, not a thousand threads.
"""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "finetune_portal.settings")
application = get_asgi_application()

if settings.DEBUG:
    # Development serves static files from the app folders as runserver does, without a thread per
    # file; production serves the collected files through WhiteNoise's middleware.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    application = ASGIStaticFilesHandler(application)
