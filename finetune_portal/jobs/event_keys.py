"""Event ids with a meaning for the job page. Plain constants, importable where Django is not set up (the
training processes a GPU worker launches)."""

# A provider stores its per-step log lines ("Step 8/135: training loss 1.23") under event ids with this
# prefix: the chart already shows their figures, so the job page folds them into a collapsed log.
STEP_LOG_EVENT_PREFIX = "step-"
