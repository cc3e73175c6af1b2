"""Evaluation runs through the inference core: scoring, the verdict, resuming after a worker died
without paying twice, cancelling, reusing a base model's answers, and starting when a job succeeds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from finetune_portal.evaluations.items import EvaluationInputError
from finetune_portal.evaluations.models import (
    EvaluationOnSuccess,
    EvaluationOutput,
    EvaluationStatus,
    OutputStatus,
)
from finetune_portal.evaluations.on_success import evaluation_on_success_add
from finetune_portal.evaluations.services import (
    answering,
    evaluation_cancel,
    evaluation_run_batch,
    evaluation_run_in_process,
    evaluation_start,
)
from finetune_portal.inference.models import ChatAnswer
from finetune_portal.jobs.signals import job_status_changed
from finetune_portal.jobs.states import JobStatus
from finetune_portal.providers.chat import ChatDone
from finetune_portal.registry.services import fine_tuned_model_record
from tests.evaluations.label_provider import JUDGE, KEY, POSITIVE, READER, LabelProvider
from tests.factories import make_dataset, make_job, make_version

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("labels")]


def _start(cast, version, models=(READER, POSITIVE), metric="accuracy", **extra):
    return evaluation_start(
        project=cast.project,
        user=cast.member,
        version=version,
        model_names=list(models),
        metric=metric,
        enqueue=False,
        **extra,
    )


def test_two_models_are_scored_on_the_same_items_and_compared(cast, reviews):
    evaluation = _start(cast, reviews)
    assert evaluation.item_count == 30
    first = evaluation.items.get(index=0)
    assert first.reference == "POSITIVE"
    assert [m["role"] for m in first.messages] == ["system", "user"], "the reference is not asked"

    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)

    assert evaluation.status == EvaluationStatus.SUCCEEDED
    models = evaluation.results["models"]
    assert models[READER]["value"] == 1.0
    assert models[POSITIVE]["value"] == pytest.approx(1 / 3)
    assert models[POSITIVE]["classification"]["confusion"] == [[0, 0, 10], [0, 0, 10], [0, 0, 10]]
    verdict = evaluation.results["verdict"]
    # The reader alone is right on the 20 non-positive reviews: McNemar on 20 vs 0 discordant pairs.
    assert verdict["difference"] == pytest.approx(200 / 3)
    assert verdict["n"] == 30
    assert verdict["words"].startswith(f"{READER} is better than {POSITIVE} by 66.7 points (95% CI ")
    assert "p < 0.001, n = 30 (McNemar's exact test)" in verdict["words"]
    assert ChatAnswer.objects.filter(source="evaluation").count() == 60


def test_a_worker_that_dies_mid_batch_is_resumed_without_asking_twice(cast, reviews, labels, monkeypatch):
    evaluation = _start(cast, reviews)
    real = answering._answer_one
    answered = []

    class WorkerDied(BaseException):
        pass

    def dies_after_three(*args, **kwargs):
        if len(answered) == 3:
            raise WorkerDied
        real(*args, **kwargs)
        answered.append(1)

    monkeypatch.setattr(answering, "_answer_one", dies_after_three)
    with pytest.raises(WorkerDied):
        evaluation_run_batch(evaluation_id=evaluation.pk, size=8)
    monkeypatch.setattr(answering, "_answer_one", real)
    # Five rows stay claimed by the dead worker; the redelivered batches answer everything else.
    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)
    assert evaluation.status == EvaluationStatus.RUNNING
    assert EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.RUNNING).count() == 5
    assert len(labels.calls) == 55

    # Once the claims are stale, the next delivery takes them over and the run finishes.
    EvaluationOutput.objects.filter(status=OutputStatus.RUNNING).update(
        claimed_at=timezone.now() - answering.STALE_CLAIM - timedelta(seconds=1)
    )
    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)
    assert evaluation.status == EvaluationStatus.SUCCEEDED
    assert len(labels.calls) == 60, "each question asked once"
    assert ChatAnswer.objects.filter(source="evaluation").count() == 60
    assert EvaluationOutput.objects.filter(evaluation=evaluation, answer__isnull=True).count() == 0


def test_a_paid_answer_is_kept_before_the_next_question_and_free_ones_together(
    cast, reviews, labels, monkeypatch
):
    evaluation = _start(cast, reviews, models=[READER])
    kept_when_asked: list[int] = []
    answer = labels.chat_stream

    def priced(self, **kwargs):
        kept_when_asked.append(
            EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.DONE).count()
        )
        for event in answer(self, **kwargs):
            yield ChatDone("stop", 10, 1, cost_usd=Decimal("0.001")) if isinstance(event, ChatDone) else event

    monkeypatch.setattr(labels, "chat_stream", priced)
    evaluation_run_batch(evaluation_id=evaluation.pk, size=4)
    assert kept_when_asked == [0, 1, 2, 3], "each paid answer is stored before the next question"

    # Free answers within the same second are written together, once the batch ends.
    monkeypatch.setattr(labels, "chat_stream", answer)
    monkeypatch.setattr(answering, "WRITE_EVERY_SECONDS", 3600.0)
    kept_when_asked.clear()

    def free(self, **kwargs):
        kept_when_asked.append(
            EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.DONE).count()
        )
        yield from answer(self, **kwargs)

    monkeypatch.setattr(labels, "chat_stream", free)
    evaluation_run_batch(evaluation_id=evaluation.pk, size=4)
    assert kept_when_asked == [4, 4, 4, 4]
    assert EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.DONE).count() == 8


def test_a_row_with_its_answer_is_scored_not_asked_again(cast, reviews, labels):
    evaluation = _start(cast, reviews, models=[READER])
    evaluation_run_batch(evaluation_id=evaluation.pk, size=1)
    row = EvaluationOutput.objects.get(evaluation=evaluation, item__index=0)
    # The worker died after the answer was kept and before it was scored.
    EvaluationOutput.objects.filter(pk=row.pk).update(
        status=OutputStatus.RUNNING, score=None, claimed_at=timezone.now() - timedelta(hours=1)
    )
    evaluation_run_in_process(evaluation_id=evaluation.pk)
    assert labels.calls.count(READER) == 30
    row.refresh_from_db()
    assert (row.status, row.score) == (OutputStatus.DONE, 1.0)


def test_cancel_stops_the_run_and_keeps_what_was_scored(cast, reviews, labels):
    evaluation = _start(cast, reviews)
    evaluation_run_batch(evaluation_id=evaluation.pk, size=8)

    assert evaluation_cancel(evaluation=evaluation, user=cast.member) is True
    assert evaluation_cancel(evaluation=evaluation, user=cast.member) is False
    assert evaluation_run_batch(evaluation_id=evaluation.pk) is False

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert len(labels.calls) == 8
    assert EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.DONE).count() == 8
    assert evaluation.results["models"][READER]["n"] == 4


def test_the_judge_scores_each_answer_with_its_reason_and_is_recorded(cast, reviews):
    evaluation = _start(
        cast, reviews, models=[READER], metric="judge", judge_model=JUDGE, rubric="One word is best."
    )
    evaluation = evaluation_run_in_process(evaluation_id=evaluation.pk)
    row = EvaluationOutput.objects.filter(evaluation=evaluation).first()
    assert (row.score, row.note) == (9.0, "1 words.")
    assert row.judge_answer.model_name == JUDGE
    assert "One word is best." in row.judge_answer.messages[-1]["content"]
    assert evaluation.results["judge"] == {"model": JUDGE, "rubric": "One word is best."}
    assert evaluation.results["models"][READER]["value"] == 9.0


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"models": ["no-such-model"]}, "models", "is not a model this project can chat with"),
        ({"models": []}, "models", "Choose at least one model"),
        ({"metric": "judge"}, "judge_model", "Choose the judge model"),
        ({"metric": "nope"}, "metric", "Unknown metric"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_saved(cast, reviews, change, field, words):
    arguments = {"models": [READER], "metric": "accuracy", **change}
    with pytest.raises(EvaluationInputError) as refused:
        _start(cast, reviews, models=arguments["models"], metric=arguments["metric"])
    assert refused.value.field == field
    assert words in refused.value.message
    assert not cast.project.evaluations.exists()


def test_prompt_completion_versions_use_the_completion_and_preference_sets_are_refused(cast):
    completions = make_dataset(cast.project, name="completions", kind="completion")
    version = make_version(
        completions, content=b'{"prompt": "Great app (POSITIVE)", "completion": " POSITIVE"}\n'
    )
    evaluation = _start(cast, version, models=[READER])
    item = evaluation.items.get()
    assert (item.messages, item.reference) == (
        [{"role": "user", "content": "Great app (POSITIVE)"}],
        "POSITIVE",
    )

    preferences = make_dataset(cast.project, name="prefs", kind="dpo")
    with pytest.raises(EvaluationInputError, match="evaluations read chat"):
        _start(cast, make_version(preferences), models=[READER])


def test_a_base_models_answers_are_reused_by_the_next_run_on_the_same_version(cast, reviews, labels):
    evaluation_run_in_process(evaluation_id=_start(cast, reviews).pk)
    labels.calls.clear()
    again = evaluation_run_in_process(evaluation_id=_start(cast, reviews, models=[READER, POSITIVE]).pk)
    assert labels.calls == []
    assert again.results["models"][READER]["value"] == 1.0
    assert "Reused from evaluation" in EvaluationOutput.objects.filter(evaluation=again).first().note


def test_a_job_evaluates_itself_and_its_base_when_it_succeeds(cast, reviews):
    job = make_job(cast.project, status=JobStatus.SUCCEEDED, provider=KEY, base_model=READER)
    fine_tuned_model_record(job=job, base_model=READER, adapter_uri="file:///adapters/final")
    evaluation_on_success_add(job=job, version=reviews, metric="accuracy", user=cast.member)

    for _ in range(2):  # the signal may come twice; one evaluation is started
        job_status_changed.send(
            sender=None, job_id=job.pk, from_status="running", to_status="succeeded", actor_id=None
        )

    attached = EvaluationOnSuccess.objects.get()
    evaluation = attached.evaluation
    assert evaluation.job == job
    assert evaluation.model_names[1] == READER
    assert evaluation.model_names[0].endswith(f":job-{job.pk}")
    assert cast.project.evaluations.count() == 1


def test_a_cancel_that_comes_during_a_batch_stops_it_before_the_next_answer(cast, reviews, monkeypatch):
    # Each answer here takes longer than the pause between looks for a cancel, as a paid one does.
    monkeypatch.setattr(answering, "CANCEL_CHECK_SECONDS", 0)
    evaluation = _start(cast, reviews, models=[READER])
    real_stream = LabelProvider.chat_stream

    def cancelled_during_the_third_answer(self, *args, **kwargs):
        if len(LabelProvider.calls) == 2:
            evaluation_cancel(evaluation=evaluation, user=cast.member)
        yield from real_stream(self, *args, **kwargs)

    monkeypatch.setattr(LabelProvider, "chat_stream", cancelled_during_the_third_answer)
    assert evaluation_run_batch(evaluation_id=evaluation.pk, size=10) is False

    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.CANCELLED
    assert len(LabelProvider.calls) == 3
    assert EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.DONE).count() == 3
    assert EvaluationOutput.objects.filter(evaluation=evaluation, status=OutputStatus.PENDING).count() == 27
