from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "finetune_portal.evaluations"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        from finetune_portal.evaluations import receivers  # noqa: F401  (connects the job listener)
        from finetune_portal.evaluations.launch_form import evaluate_on_launch_form
        from finetune_portal.evaluations.live import LIVE_PART, job_evaluations_live_tokens
        from finetune_portal.evaluations.scores import comparison_rows, job_scores
        from finetune_portal.jobs.launch_extras import register_launch_extra
        from finetune_portal.jobs.outside_results import register_comparison_rows, register_job_scores
        from finetune_portal.jobs.selectors.live import register_live_part

        # The comparison page's evaluation rows and the sweep page's score column.
        register_comparison_rows("evaluations", comparison_rows)
        register_job_scores("evaluations", job_scores)
        # The job page's evaluations part follows the job's live stream.
        register_live_part(LIVE_PART, job_evaluations_live_tokens)
        # "When it succeeds, evaluate it on version X" on the launch form, saved with the job.
        register_launch_extra("evaluations", evaluate_on_launch_form)
