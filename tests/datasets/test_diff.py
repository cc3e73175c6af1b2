"""Comparing two versions: the examples added, removed and changed, paged, and the default pair."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from finetune_portal.datasets import diff as diff_module
from finetune_portal.datasets.diff import DIFF_PAGE_SIZE, default_pair, diff_index, diff_page
from tests.datasets.samples import chat, lines_of
from tests.factories import PASSWORD, make_dataset, make_version

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def member_client(client, cast):
    client.login(username=cast.member.username, password=PASSWORD)
    return client


def diff_url(dataset):
    return reverse("datasets:diff", args=[dataset.project.slug, dataset.pk])


def two_versions(cast):
    dataset = make_dataset(cast.project)
    old = make_version(
        dataset,
        content=lines_of([chat(user="a"), chat(user="b"), chat(user="c", answer="x"), chat(user="e")]),
    )
    new = make_version(
        dataset,
        content=lines_of([chat(user="a"), chat(user="c", answer="y"), chat(user="d"), chat(user="e")]),
        parent=old,
    )
    return dataset, old, new


def test_the_diff_shows_the_changed_examples_side_by_side_with_their_lines(member_client, cast):
    dataset, old, new = two_versions(cast)

    page = member_client.get(diff_url(dataset), {"old": old.number, "new": new.number}).content.decode()

    for name, count in (("added", 1), ("removed", 1), ("changed", 1), ("unchanged", 2)):
        assert f'data-count="{name}">{count}<' in page
    # Changed ones come first, old and new side by side.
    row = re.search(r'<div class="diff-row side-by-side">.*?</article>\s*<article.*?</article>', page, re.S)
    assert row is not None
    assert 'data-side="before" data-line="3"' in row.group(0)
    assert 'data-side="after" data-line="2"' in row.group(0)
    before, after = row.group(0).split('data-side="after"')
    assert "assistant</span>x</div>" in before
    assert "assistant</span>y</div>" in after


def test_added_and_removed_examples_are_listed_from_their_own_version(member_client, cast):
    dataset, _, _ = two_versions(cast)

    added = member_client.get(diff_url(dataset), {"old": 1, "new": 2, "show": "added"}).content.decode()
    removed = member_client.get(diff_url(dataset), {"old": 1, "new": 2, "show": "removed"}).content.decode()

    assert re.findall(r'data-side="(\w+)" data-line="(\d+)"', added) == [("after", "3")]
    assert re.findall(r'data-side="(\w+)" data-line="(\d+)"', removed) == [("before", "2")]
    assert "Added in v2" in added
    assert "Removed from v1" in removed


def test_long_sections_are_paged_in_file_order(member_client, cast):
    dataset = make_dataset(cast.project)
    old = make_version(dataset, content=lines_of([chat(user="kept")]))
    new = make_version(
        dataset, content=lines_of([chat(user="kept")] + [chat(user=f"new {i}") for i in range(25)])
    )
    index = diff_index(old, new)

    pages = [diff_page(old, new, index, section="added", page=n) for n in (1, 2, 3)]

    assert index.added == 25
    assert [p.pages for p in pages] == [3, 3, 3]
    lines = [after.line for p in pages for _, after in p.rows]
    assert lines == list(range(2, 27))
    assert len(pages[0].rows) == DIFF_PAGE_SIZE
    second = member_client.get(
        diff_url(dataset),
        {"old": 1, "new": 2, "show": "added", "page": 2},
        headers={"HX-Request": "true", "HX-Target": "diff-examples"},
    ).content.decode()
    assert "<html" not in second
    assert "Page 2 of 3" in second


def test_repeated_prompts_match_one_to_one(cast):
    dataset = make_dataset(cast.project)
    old = make_version(
        dataset, content=lines_of([chat(user="same", answer="1"), chat(user="same", answer="2")])
    )
    new = make_version(
        dataset,
        content=lines_of(
            [chat(user="same", answer="2"), chat(user="same", answer="3"), chat(user="same", answer="4")]
        ),
    )

    index = diff_index(old, new)

    assert (index.unchanged, index.changed, index.added, index.removed) == (1, 1, 1, 0)


def test_matching_spreads_over_partitions_and_gives_the_same_answer(cast, monkeypatch):
    dataset = make_dataset(cast.project)
    old = make_version(dataset, content=lines_of([chat(user=f"q{i}", answer="a") for i in range(200)]))
    new_rows = [chat(user=f"q{i}", answer="b" if i % 10 == 0 else "a") for i in range(0, 200, 2)]
    new = make_version(dataset, content=lines_of([*new_rows, chat(user="fresh")]))
    whole = diff_module._match(old, new)

    monkeypatch.setattr(diff_module, "_PARTITION_SOURCE_BYTES", 1024)
    spread = diff_module._match(old, new)

    assert (whole.changed, whole.added, whole.removed, whole.unchanged) == (20, 1, 100, 80)
    assert (spread.changed, spread.added, spread.removed, spread.unchanged) == (20, 1, 100, 80)
    assert list(spread.changed_pairs) == list(whole.changed_pairs)
    assert list(spread.lines_of("removed")) == list(whole.lines_of("removed"))


def test_the_default_pair_is_the_parent_else_the_previous_number(member_client, cast):
    dataset = make_dataset(cast.project)
    first = make_version(dataset)
    second = make_version(dataset)
    third = make_version(dataset, parent=first)

    assert default_pair(third) == first
    assert default_pair(second) == first
    assert default_pair(first) is None

    page = member_client.get(diff_url(dataset)).content.decode()
    assert "Changes from" in page
    assert re.search(r'name="old">.*?<option value="1" selected>', page, re.S)
    assert re.search(r'name="new">.*?<option value="3" selected>', page, re.S)
    detail = member_client.get(
        reverse("datasets:detail", args=[cast.project.slug, dataset.pk])
    ).content.decode()
    assert re.search(r'name="old">.*?<option value="1" selected>', detail, re.S)
    only_first = member_client.get(diff_url(dataset), {"new": 1}).content.decode()
    assert "the first version" in only_first
