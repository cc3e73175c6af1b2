"""What error pages and error reports may show."""

from __future__ import annotations

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Hides what views and services mark sensitive (API keys being saved, passwords) on the development
    error page too: Django's own filter is off while DEBUG is on, and a screenshot or a pasted debug page
    would carry the secret."""

    def is_active(self, request) -> bool:
        return True
