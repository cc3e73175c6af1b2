"""Training on several GPUs of one worker: the same run, started through accelerate (DDP).

The task's process stays the claimant: it keeps beating, starts ``accelerate launch`` on this module, and
is the only process that talks to the database and storage. Rank 0 of the training processes writes what
it would report as JSON lines to a file; the task's process applies them through the normal
JobReporter as they arrive and answers "stop" by creating a file that rank 0 looks for. The training
processes therefore need no database connection, and reports stay idempotent exactly as in a
single-process run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from finetune_portal.providers.base import ProviderError

REPORTS_FILE = "reports.jsonl"
STOP_FILE = "stop"
RELAYED_CHECKPOINTS = "relayed-checkpoints"
RELAY_INTERVAL_SECONDS = 1.0
# The task's process id, so the training processes stop if it dies (a killed worker must not leave its
# GPUs busy training for nobody).
TASK_PID_ENV = "FINETUNE_PORTAL_TASK_PID"


def run_distributed(spec, *, reporter, gpus: int):
    """Train ``spec`` in ``gpus`` processes and return rank 0's TrainingOutcome. Raises ProviderError.

    With ``spec.cpu_stands_in_for_gpu`` a worker without CUDA runs the processes on the CPU (gloo)
    instead of refusing, so the multi-GPU path can be tried on any machine.
    """
    from finetune_portal.providers.peft.trainer import TrainingOutcome, hardware

    available = len(hardware()["gpus"])
    if gpus > available and not (available == 0 and spec.cpu_stands_in_for_gpu):
        raise ProviderError(
            f"The job asks for {gpus} GPUs but this worker has {available}.",
            permanent=True,
            hint="Lower the number of GPUs, or run it on a worker with more.",
            code="not_enough_gpus",
        )
    run_dir = Path(spec.output_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    spec_file = run_dir / "spec.json"
    outcome_file = run_dir / "outcome.json"
    spec_file.write_text(json.dumps(asdict(spec)))
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        str(gpus),
        "--num_machines",
        "1",
        "--dynamo_backend",
        "no",
        "-m",
        "finetune_portal.providers.peft.launch",
        str(spec_file),
        str(outcome_file),
    ]
    relay = ReportRelay(run_dir, reporter)
    process = subprocess.Popen(command, env={**os.environ, TASK_PID_ENV: str(os.getpid())})  # noqa: S603
    try:
        while True:
            try:
                process.wait(timeout=RELAY_INTERVAL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                relay.step()
    finally:
        if process.poll() is None:  # the task itself is being stopped (time limit, worker shutdown)
            process.terminate()
            process.wait(timeout=60)
    relay.apply_new_reports()
    if not outcome_file.exists():
        raise ProviderError(
            f"The {gpus}-GPU training processes ended without a result (exit status {process.returncode}).",
            permanent=True,
            hint="See the GPU worker's log; try again with one GPU to get the plain error.",
            code="distributed_failed",
        )
    result = json.loads(outcome_file.read_text())
    if "error" in result:
        raise ProviderError(
            result["error"], permanent=True, hint=result.get("hint", ""), code=result.get("code", "")
        )
    result["final_folder"] = Path(result["final_folder"])
    return TrainingOutcome(**result)


class ReportRelay:
    """The task's side: applies rank 0's reports and passes "stop" back to it."""

    def __init__(self, run_dir: Path, reporter):
        self.reports = run_dir / REPORTS_FILE
        self.stop_file = run_dir / STOP_FILE
        self.reporter = reporter
        self._offset = 0

    def step(self) -> None:
        self.apply_new_reports()
        self.reporter.heartbeat()
        if self.reporter.should_stop():
            self.stop_file.touch()

    def apply_new_reports(self) -> None:
        if not self.reports.exists():
            return
        with self.reports.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a line still being written waits for the next look
        self._offset += len(complete)
        for line in complete.splitlines():
            self._apply(json.loads(line))

    def _apply(self, report: dict[str, Any]) -> None:
        kind = report.pop("kind")
        if kind == "metrics":
            self.reporter.metrics(report["point"])
        elif kind == "event":
            self.reporter.event(
                report["message"], key=report["key"], level=report["level"], data=report["data"]
            )
        elif kind == "checkpoint":
            folder = Path(report["folder"])
            self.reporter.checkpoint(step=report["step"], folder=folder, metrics=report["metrics"])
            shutil.rmtree(folder, ignore_errors=True)


class FileReporter:
    """Rank 0's side: the Reporter the trainer calls, writing each report as one JSON line."""

    def __init__(self, run_dir: Path, *, task_pid: int | None = None):
        self.run_dir = run_dir
        self.stop_file = run_dir / STOP_FILE
        self.task_pid = task_pid
        self._reports = (run_dir / REPORTS_FILE).open("a", encoding="utf-8")

    def _write(self, report: dict[str, Any]) -> None:
        self._reports.write(json.dumps(report, default=str) + "\n")
        self._reports.flush()

    def heartbeat(self) -> None:
        """The task's process beats for the job."""

    def should_stop(self) -> bool:
        return self.stop_file.exists() or not self._task_alive()

    def _task_alive(self) -> bool:
        if self.task_pid is None:
            return True
        try:
            os.kill(self.task_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, owned by another user
        return True

    def metrics(self, point: dict[str, Any]) -> None:
        self._write({"kind": "metrics", "point": point})

    def event(self, message: str, *, key: str, level: str = "info", data: dict | None = None) -> None:
        self._write({"kind": "event", "message": message, "key": key, "level": level, "data": data})

    def checkpoint(self, *, step: int, folder: Path, metrics: dict[str, Any]) -> None:
        # The trainer deletes old checkpoints (save_total_limit) on its own schedule: keep this one for
        # the task's process, linked rather than copied where the filesystem allows.
        from finetune_portal.providers.peft.trainer import CHECKPOINT_SKIP

        kept = self.run_dir / RELAYED_CHECKPOINTS / folder.name
        shutil.copytree(
            folder,
            kept,
            ignore=shutil.ignore_patterns(*CHECKPOINT_SKIP),
            copy_function=_link_or_copy,
            dirs_exist_ok=True,
        )
        self._write({"kind": "checkpoint", "step": step, "folder": str(kept), "metrics": metrics})


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def main(argv: list[str]) -> None:
    from finetune_portal.providers.peft.trainer import TrainingSpec, run_training

    spec_file, outcome_file = (Path(arg) for arg in argv)
    spec = TrainingSpec(**json.loads(spec_file.read_text()))
    rank = int(os.environ.get("RANK", "0"))
    task_pid = os.environ.get(TASK_PID_ENV)
    reporter = FileReporter(spec_file.parent, task_pid=int(task_pid) if task_pid else None)
    try:
        outcome = run_training(spec, reporter)
    except ProviderError as exc:
        if rank == 0:
            outcome_file.write_text(json.dumps({"error": exc.message, "hint": exc.hint, "code": exc.code}))
        raise SystemExit(1) from exc
    if rank == 0:
        data = asdict(outcome)
        data["final_folder"] = str(outcome.final_folder)
        outcome_file.write_text(json.dumps(data))


if __name__ == "__main__":
    main(sys.argv[1:])
