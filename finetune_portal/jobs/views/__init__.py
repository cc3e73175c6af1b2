"""The jobs pages, one module per page or concern; jobs/urls.py routes to them."""

# Providers' job-page templates are named after these parts (tests check each provider's set); they are
# importable here, as before the views were split.
from finetune_portal.jobs.views.job_parts import NEUTRAL_PARTS_FOLDER, PROVIDER_PARTS

__all__ = ["NEUTRAL_PARTS_FOLDER", "PROVIDER_PARTS"]
