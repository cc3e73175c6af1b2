from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.http import Http404

from finetune_portal.jobs.compare import (
    RunSelectionError,
    comparison_build,
    comparison_csv,
    parse_run_ids,
)
from finetune_portal.jobs.compare_settings import settings_rows
from finetune_portal.jobs.services import metric_points_record
from finetune_portal.jobs.setting_names import flatten_settings
from tests.factories import make_dataset, make_job, make_version


class TestRunIds:
    def test_ids_keep_their_order_and_lose_duplicates(self):
        assert parse_run_ids("8,3,8,5") == [8, 3, 5]

    @pytest.mark.parametrize("raw", ["", "4", "1,2,3,4,5,6,7,8,9,10,11", "3,x", "3,-4", None])
    def test_fewer_than_two_more_than_ten_or_junk_is_refused(self, raw):
        with pytest.raises(RunSelectionError):
            parse_run_ids(raw)


def rows_by_name(jobs):
    return {row.name: row for row in settings_rows(jobs)}


class TestDiffers:
    @pytest.mark.django_db
    def test_equal_values_do_not_differ_and_unequal_ones_do(self, cast):
        a = make_job(cast.project, hyperparameters={"n_epochs": 3, "batch_size": 8, "lr": 1e-4})
        b = make_job(cast.project, hyperparameters={"n_epochs": 3.0, "batch_size": 16, "lr": 1e-4})

        rows = rows_by_name([a, b])

        assert rows["Epochs"].differs is False
        assert rows["Lr"].differs is False
        assert rows["Batch size"].differs is True
        assert rows["Batch size"].values == ["8", "16"]
        assert rows["Provider"].differs is False

    @pytest.mark.django_db
    def test_a_setting_one_run_lacks_differs_and_shows_a_dash(self, cast):
        a = make_job(cast.project, hyperparameters={"lora": {"r": 8, "alpha": 16}})
        b = make_job(cast.project, provider="local_peft", hyperparameters={"lora": {"r": 8}})

        rows = rows_by_name([a, b])

        assert rows["LoRA rank"].differs is False
        assert rows["LoRA alpha"].differs is True
        assert rows["LoRA alpha"].values == ["16", "—"]
        assert rows["Provider"].differs is True

    @pytest.mark.django_db
    def test_text_and_number_are_not_the_same_setting(self, cast):
        a = make_job(cast.project, hyperparameters={"n_epochs": "auto"})
        b = make_job(cast.project, hyperparameters={"n_epochs": 3})
        c = make_job(cast.project, hyperparameters={"n_epochs": "3"})

        assert rows_by_name([a, b])["Epochs"].differs is True
        assert rows_by_name([b, c])["Epochs"].differs is True

    def test_nested_settings_are_flattened_with_dots(self):
        assert flatten_settings({"method": {"supervised": {"n_epochs": 2}}, "seed": 1}) == {
            "method.supervised.n_epochs": 2,
            "seed": 1,
        }


class TestLabelsAndResolvedSettings:
    @pytest.mark.django_db
    def test_every_setting_has_a_label_and_the_seed_one_row(self, cast):
        local = make_job(
            cast.project,
            provider="local_peft",
            seed=7,
            hyperparameters={"epochs": 3, "assistant_only_loss": True, "seed": 7, "max_length": 1024},
        )
        openai_run = make_job(cast.project, seed=7, hyperparameters={"n_epochs": 3, "some_new_flag": 1})

        names = [row.name for row in settings_rows([local, openai_run])]

        assert names.count("Seed") == 1
        assert "Loss on assistant replies only" in names
        assert "Some new flag" in names
        assert not any("_" in name or name.islower() for name in names)
        rows = rows_by_name([local, openai_run])
        assert rows["Epochs"].differs is False
        assert rows["Seed"].differs is False

    @pytest.mark.django_db
    def test_values_openai_chose_for_auto_settings_are_shown_and_compared(self, cast):
        local = make_job(cast.project, provider="local_peft", hyperparameters={"epochs": 3, "batch_size": 8})
        openai_run = make_job(
            cast.project,
            hyperparameters={"batch_size": 8},
            provider_data={
                "resolved_hyperparameters": {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 1.8}
            },
        )

        rows = rows_by_name([local, openai_run])

        assert rows["Epochs"].values == ["3", "3 (auto)"]
        assert rows["Epochs"].differs is False
        assert rows["Batch size"].values == ["8", "8"], "asked for, not left to OpenAI"
        assert rows["Learning-rate multiplier"].values == ["—", "1.8 (auto)"]


class TestComparison:
    @pytest.mark.django_db
    def test_a_run_of_another_project_is_a_404(self, cast):
        mine = make_job(cast.project)
        theirs = make_job(cast.other_project)
        with pytest.raises(Http404):
            comparison_build(cast.project, [mine.pk, theirs.pk])

    @pytest.mark.django_db
    def test_best_and_final_validation_loss_with_the_step_of_the_best(self, cast):
        openai_run = make_job(cast.project, name="oa")
        peft_run = make_job(cast.project, name="peft", provider="local_peft")
        metric_points_record(
            job=openai_run,
            points=[
                {"step": 10, "train_loss": 1.0, "valid_loss": 0.01, "full_valid_loss": 0.9},
                {"step": 20, "train_loss": 0.8, "valid_loss": 0.02, "full_valid_loss": 0.6},
                {"step": 30, "train_loss": 0.7, "valid_loss": 0.03, "full_valid_loss": 0.65},
            ],
        )
        metric_points_record(
            job=peft_run,
            points=[{"step": 5, "train_loss": 1.2, "valid_loss": 0.5}, {"step": 15, "train_loss": 1.1}],
        )

        comparison = comparison_build(cast.project, [openai_run.pk, peft_run.pk])
        oa, peft = comparison.runs

        # OpenAI's per-step valid_loss is on a small batch; the full-set figure stands for the run.
        assert (oa.valid_metric, oa.best_valid_loss, oa.best_valid_step) == ("full_valid_loss", 0.6, 20)
        assert oa.final_valid_loss == 0.65
        assert oa.final_train_loss == 0.7
        assert (peft.valid_metric, peft.best_valid_loss, peft.best_valid_step) == ("valid_loss", 0.5, 5)
        assert peft.final_train_loss == 1.1
        assert comparison.mixed_providers is True
        assert all(len(note.notes) == 2 for note in comparison.notes)
        curves = comparison.chart_data()
        assert curves[0]["series"]["valid"] == [[10, 20, 30], [0.9, 0.6, 0.65]]
        assert curves[1]["series"]["train"] == [[5, 15], [1.2, 1.1]]
        assert oa.colour != peft.colour

    @pytest.mark.django_db
    def test_csv_holds_the_table(self, cast):
        version = make_version(make_dataset(cast.project, name="reviews"))
        a = make_job(
            cast.project,
            name="=cmd()",
            training_version=version,
            trained_tokens=12345,
            actual_cost=Decimal("2.50"),
            hyperparameters={"n_epochs": 3},
        )
        b = make_job(cast.project, name="second", hyperparameters={"n_epochs": 4})
        metric_points_record(job=a, points=[{"step": 1, "train_loss": 0.5, "valid_loss": 0.4}])

        rows = list(csv.reader(io.StringIO(comparison_csv(comparison_build(cast.project, [a.pk, b.pk])))))
        table = {row[0]: row[1:] for row in rows}

        assert rows[0] == ["", f"#{a.pk} =cmd()", f"#{b.pk} second"]
        assert table["training data"] == ["reviews v1", ""]
        assert table["best validation loss"] == ["0.4", ""]
        assert table["final train loss"] == ["0.5", ""]
        assert table["trained tokens"] == ["12345", ""]
        assert table["cost (USD)"] == ["2.50", ""]
        assert table["setting: Epochs"] == ["3", "4"]
        assert table["provider"] == ["OpenAI", "OpenAI"]

    @pytest.mark.django_db
    def test_a_formula_in_a_setting_is_neutralised_in_the_csv(self, cast):
        a = make_job(cast.project, hyperparameters={"note": "=HYPERLINK(1)", "offset": -5})
        b = make_job(cast.project, hyperparameters={"note": "-x", "offset": -3})

        rows = csv.reader(io.StringIO(comparison_csv(comparison_build(cast.project, [a.pk, b.pk]))))
        table = {row[0]: row[1:] for row in rows}

        assert table["setting: Note"] == ["'=HYPERLINK(1)", "'-x"]
        assert table["setting: Offset"] == ["-5", "-3"]
