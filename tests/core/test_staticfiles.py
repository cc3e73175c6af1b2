from __future__ import annotations

import json
import re

from django.core.management import call_command
from django.test import override_settings

STORAGE = {"BACKEND": "finetune_portal.core.staticfiles.ModuleAwareStaticFilesStorage"}


def test_the_chart_modules_import_each_other_by_their_hashed_names(tmp_path, settings):
    with override_settings(STATIC_ROOT=tmp_path, STORAGES={**settings.STORAGES, "staticfiles": STORAGE}):
        call_command("collectstatic", interactive=False, verbosity=0)

    hashed = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    entry = (tmp_path / hashed["js/charts/job_page.js"]).read_text()
    imported = re.findall(r'from "\./([^"]+)";', entry)
    assert imported, "the job page module imports its neighbours"
    for name in imported:
        assert f"js/charts/{name}" in hashed.values(), f"{name} is not a hashed file"
        assert (tmp_path / "js" / "charts" / name).is_file()


def test_the_playground_imports_its_stream_reader_by_its_hashed_name(tmp_path, settings):
    with override_settings(STATIC_ROOT=tmp_path, STORAGES={**settings.STORAGES, "staticfiles": STORAGE}):
        call_command("collectstatic", interactive=False, verbosity=0)

    hashed = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    entry = (tmp_path / hashed["js/playground.js"]).read_text()
    assert re.findall(r'from "\./([^"]+)";', entry) == [hashed["js/event-stream.js"].removeprefix("js/")]
