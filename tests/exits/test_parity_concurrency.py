"""Two parity clicks at the same moment, on PostgreSQL where they really run side by side: one
evaluation is started, and both requests are answered with it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from finetune_portal.evaluations.models import Evaluation
from finetune_portal.exits.parity import parity_start
from tests.exits.conftest import reviews_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite runs one writer at a time anyway")
def test_two_clicks_at_once_start_one_evaluation(cast, imported_model, replacement):
    held_out = reviews_version(cast, 12)
    start = threading.Barrier(2)
    answers: list = []

    def click() -> None:
        from django.db import connection as thread_connection

        try:
            start.wait()
            answers.append(parity_start(job=imported_model, user=cast.member, version=held_out))
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert Evaluation.objects.count() == 1
    assert sorted(started for _, started in answers) == [False, True]
    assert {evaluation.pk for evaluation, _ in answers} == {Evaluation.objects.get().pk}
