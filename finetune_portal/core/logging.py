"""Logging filters."""

from __future__ import annotations

import logging


class ExpectedRefusalFilter(logging.Filter):
    """A 403 is the portal working as meant (a role that does not allow an action): keep Django's one-line
    warning and drop the traceback it attaches."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
