"""Reads for jobs: ``live`` (what a polling page needs), ``series`` (the charts' metric points) and
``lists`` (jobs of a project, the runs list's figures, a job's progress)."""
