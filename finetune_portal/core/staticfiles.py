"""Static files in production: hashed names, compressed copies, and the portal's own ES modules (under js/)
importing each other by their hashed names too."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage

# `import { Chart } from "./chart.js";` -> `import { Chart } from "./chart.<hash>.js";`
_RELATIVE_IMPORT = (
    r"""(?P<matched>import(?s:(?P<names>\s.*?))\s*from\s*["'](?P<url>\./[^"']+)["']\s*;)""",
    """import%(names)s from "%(url)s";""",
)


class ModuleAwareStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Rewrites the relative imports of the portal's own ES modules to the hashed files.

    Without it a hashed entry module, cached for ever, would import whatever unhashed neighbour is
    deployed now. ``js/*.js`` matches the folders below js/ too (the charts). Django's own switch for
    this (support_js_module_import_aggregation) also reads third-party scripts, and django-htmx's
    extensions import bare names it cannot resolve.
    """

    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("js/*.js", (_RELATIVE_IMPORT,)))
