"""The dataset pages in a browser at desktop width and on a phone: version (valid and invalid), diff and
the dataset page. Each is screenshotted and must not scroll sideways at 390 px."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from finetune_portal.datasets.versions import dataset_version_validate
from tests.datasets.samples import chat, lines_of
from tests.e2e.conftest import ARTIFACTS
from tests.factories import make_dataset, make_job, make_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": 1280, "phone": 390}


def validated(dataset, content: bytes, **fields):
    version = make_version(dataset, content=content, status="uploaded", **fields)
    return dataset_version_validate(version_id=version.pk)


def reviews(count: int, *, answer: str = "positive", long_every: int = 0):
    examples = []
    for i in range(count):
        text = f"Review {i}: the mobile app is quick and the fees are fair."
        if long_every and i % long_every == 0:
            text += " word" * (300 + 40 * i + (17_000 if i == long_every else 0))
        examples.append(chat(user=text, answer=answer if i % 3 else "negative"))
    return examples


def fits_the_phone(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow}px at 390 px"


def shoot_both(page, screenshot, name: str, path: str) -> None:
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 860})
        page.goto(path)
        screenshot(f"{name}-{label}")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}-top.png"))
        if label == "phone":
            fits_the_phone(page)


def test_the_dataset_pages_at_desktop_and_phone_width(page, cast, log_in, screenshot):
    dataset = make_dataset(cast.project, name="Bank reviews chat", created_by=cast.member)
    first = validated(
        dataset,
        lines_of(reviews(40, long_every=7)),
        validation_base_model="gpt-3.5-turbo-0125",
        uploaded_by=cast.member,
    )
    changed = reviews(40, long_every=7)
    changed[3] = chat(user=changed[3]["messages"][1]["content"], answer="neutral, the fees went up")
    changed = changed[:30] + [chat(user=f"A new review {i} about the branch staff.") for i in range(5)]
    second = validated(dataset, lines_of(changed), parent=first, uploaded_by=cast.member)
    make_job(cast.project, name="support v1", training_version=first, created_by=cast.member)
    rows = [json.dumps(e) for e in reviews(14)]
    rows[4] = '{"messages": "not a list"}'
    rows[9] = (
        '{"messages": [{"role": "user", "content": "Hi", "content": "Bye"}, '
        '{"role": "assistant", "content": "x"}]}'
    )
    invalid = validated(dataset, ("\n".join(rows) + "\n").encode(), uploaded_by=cast.member)
    assert (first.status, second.status, invalid.status) == ("valid", "valid", "invalid")
    base = f"/p/{cast.project.slug}/datasets/{dataset.pk}"

    log_in(cast.member)
    page.goto(f"{base}/v/{first.number}/")
    expect(page.locator("#token-histogram")).to_be_visible()
    expect(page.locator("#over-context")).to_contain_text("1 example over the 16,385-token limit")
    expect(page.get_by_label("Validation share (%)")).to_be_visible()
    expect(page.get_by_label("Seed")).to_be_visible()
    shoot_both(page, screenshot, "dataset-version-valid", f"{base}/v/{first.number}/")

    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"{base}/v/{invalid.number}/")
    page.locator("#errors a", has_text="Line 10").click()
    expect(page.locator('article[data-line="10"].example-bad')).to_contain_text("appears twice")
    shoot_both(page, screenshot, "dataset-version-invalid", f"{base}/v/{invalid.number}/?line=5")

    shoot_both(page, screenshot, "dataset-diff", f"{base}/diff/?new={second.number}")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto(f"{base}/diff/?new={second.number}")
    expect(page.locator(".diff-row.side-by-side").first).to_be_visible()

    page.goto(f"{base}/")
    page.get_by_text("Archive or delete this dataset").click()
    expect(page.locator("#deletion-blocker")).to_contain_text("is kept because jobs used it")
    shoot_both(page, screenshot, "dataset-detail", f"{base}/")
