"""Whether a launch fits what is left of its project's monthly budget.

A launch that would pass it waits for an ML lead's approval; the moves themselves (launch, approve,
reject) are the state machine's, in jobs/services.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from finetune_portal.jobs.models import FineTuningJob
from finetune_portal.projects.selectors import project_month_spend


@dataclass(frozen=True)
class LaunchBudget:
    over_budget: bool
    # The launch's recorded reason: why it waits, when it does.
    reason: str
    cost: Decimal | None
    remaining: Decimal | None

    def audit_data(self) -> dict[str, str]:
        return {"estimated_cost": usd_text(self.cost), "remaining": usd_text(self.remaining)}


def launch_budget_check(job: FineTuningJob) -> LaunchBudget:
    """Compare the job's estimated cost with what is left of its project's budget this month.

    Call it with the project row locked (job_launch does), so two launches at once cannot both slip under.
    """
    spend = project_month_spend(job.project)
    cost, remaining = job.estimated_cost, spend.remaining
    if cost is not None and remaining is not None and cost > remaining:
        reason = (
            f"Waits for approval: estimated {usd_text(cost)}, {usd_text(max(remaining, Decimal(0)))} left "
            f"of the {usd_text(spend.budget)} monthly budget"
        )
        return LaunchBudget(over_budget=True, reason=reason, cost=cost, remaining=remaining)
    return LaunchBudget(over_budget=False, reason="Launched", cost=cost, remaining=remaining)


def usd_text(amount: Decimal | None) -> str:
    # As the pages show money: test runs cost fractions of a cent, which "$0.00" would hide.
    if amount is None:
        return "—"
    return f"${amount:,.4f}" if 0 < amount < Decimal("0.01") else f"${amount:,.2f}"
