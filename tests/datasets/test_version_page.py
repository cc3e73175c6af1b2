"""The version page as someone fixing a file reads it: errors that lead to their lines, marked bad lines,
the token-length histogram, examples over the context, and the way out for a kind the target cannot train."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from finetune_portal.datasets.models import Dataset
from finetune_portal.datasets.selectors import PREVIEW_PAGE_SIZE
from finetune_portal.datasets.versions import dataset_version_validate
from tests.datasets.samples import chat, chats, lines_of
from tests.factories import PASSWORD, make_dataset, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


def version_url(version, name="datasets:version"):
    return reverse(name, args=[version.dataset.project.slug, version.dataset_id, version.number])


def validated(dataset, content: bytes, **fields):
    version = make_version(dataset, content=content, status="uploaded", **fields)
    return dataset_version_validate(version_id=version.pk)


def test_each_error_links_to_its_line_and_the_preview_opens_on_it_marked_bad(member_client, cast):
    rows = [json.dumps(c) for c in chats(30)]
    rows[24] = '{"messages": "not a list"}'
    version = validated(make_dataset(cast.project), ("\n".join(rows) + "\n").encode())
    assert version.status == "invalid"

    page = member_client.get(version_url(version)).content.decode()
    assert '<a class="where" href="?line=25#line-25">Line 25</a>' in page

    opened = member_client.get(version_url(version), {"line": 25}).content.decode()
    shown = [int(n) for n in re.findall(r'data-line="(\d+)" id="line-', opened)]
    assert 25 in shown
    assert len(shown) == PREVIEW_PAGE_SIZE
    assert "Page 3" in opened
    bad = re.search(
        r'<article class="example example-bad example-wanted" data-line="25".*?</article>', opened, re.S
    )
    assert bad is not None
    assert "1 error" in bad.group(0)
    assert "messages" in bad.group(0)
    # Lines without an error are not marked.
    assert opened.count("example-bad") == 1


def test_a_warning_about_the_file_is_not_labelled_with_a_line(member_client, cast):
    examples = [chat(user=f"Q{i}", system=False) for i in range(12)]
    version = validated(make_dataset(cast.project), lines_of(examples))

    page = member_client.get(version_url(version)).content.decode()

    warnings = re.search(r'<ul class="report-list report-warnings".*?</ul>', page, re.S).group(0)
    warning = next(item for item in warnings.split("<li>") if "have no system message" in item)
    assert "Line 1" not in warning
    assert warning.startswith('<span class="where">Note</span>')
    assert '<a href="?line=1#line-1">line 1</a>' in warning


def test_the_page_draws_the_token_histogram_and_lists_examples_over_the_context(member_client, cast):
    long_answer = "word " * 17_000
    examples = [*chats(12), chat(answer=long_answer), chat(user="again", answer=long_answer)]
    version = validated(
        make_dataset(cast.project), lines_of(examples), validation_base_model="gpt-3.5-turbo-0125"
    )

    page = member_client.get(version_url(version)).content.decode()

    histogram = re.search(r'<figure class="token-histogram".*?</figure>', page, re.S).group(0)
    assert histogram.count("<li") == len(version.validation_report["stats"]["token_histogram"])
    assert histogram.count('class="over-limit"') >= 1
    assert 'class="bar h100"' in histogram, "the fullest bin is drawn at full height"
    over = re.search(r'<p class="small over-context".*?</p>', page, re.S).group(0)
    assert "2 examples</strong> over the 16,385-token limit of gpt-3.5-turbo-0125" in over
    assert '<a href="?line=13#line-13">line 13</a>, <a href="?line=14#line-14">line 14</a>' in over


def test_alpaca_for_openai_is_refused_with_the_kinds_it_trains_and_converts_to_chat(member_client, cast):
    dataset = make_dataset(cast.project, name="Recipes", kind="alpaca")
    alpaca = [{"instruction": "Translate", "input": f"Hallo {i}", "output": f"Hello {i}"} for i in range(12)]
    version = validated(dataset, lines_of(alpaca), validation_target="openai")
    assert version.status == "invalid"

    page = member_client.get(version_url(version)).content.decode()
    assert "OpenAI does not train Alpaca data; it trains chat" in page
    assert 'id="convert-offer"' in page

    converted = member_client.post(version_url(version, "datasets:convert"))
    chat_version = Dataset.objects.get(name="Recipes (chat)").versions.get()
    assert converted["Location"] == version_url(chat_version)
    assert chat_version.validation_target == "openai"


def test_a_version_with_real_errors_is_not_offered_the_conversion(member_client, cast):
    dataset = make_dataset(cast.project, kind="alpaca")
    alpaca = [{"instruction": "Translate", "input": "x", "output": "y"}] * 11 + [
        {"instruction": "", "output": 1}
    ]
    version = validated(dataset, lines_of(alpaca), validation_target="openai")

    page = member_client.get(version_url(version)).content.decode()
    assert 'id="convert-offer"' not in page
    response = member_client.post(version_url(version, "datasets:convert"))
    assert response.status_code == 302
    assert not Dataset.objects.filter(name__endswith="(chat)").exists()


def test_the_split_inputs_have_visible_labels(member_client, cast):
    version = validated(make_dataset(cast.project), lines_of(chats(12)))

    page = member_client.get(version_url(version)).content.decode()

    form = re.search(r'<form[^>]*class="split-form".*?</form>', page, re.S).group(0)
    assert re.search(r"<label>Validation share \(%\)<input[^>]*name=\"validation_percent\"", form)
    assert re.search(r"<label>Seed<input[^>]*name=\"seed\"", form)
    assert "aria-label" not in form
