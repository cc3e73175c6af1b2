"""The file relay between the training processes and the task's process of a multi-GPU job."""

from __future__ import annotations

import subprocess
import sys

from finetune_portal.providers.peft.launch import FileReporter, ReportRelay


class Recorder:
    """The task side's reporter, recording what the relay applies."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.stop = False

    def metrics(self, point):
        self.calls.append(("metrics", point))

    def event(self, message, *, key, level="info", data=None):
        self.calls.append(("event", message, key, level, data))

    def checkpoint(self, *, step, folder, metrics):
        self.calls.append(("checkpoint", step, sorted(p.name for p in folder.iterdir()), metrics))

    def heartbeat(self):
        self.calls.append(("heartbeat",))

    def should_stop(self):
        return self.stop


def test_reports_reach_the_task_once_each_and_a_half_written_line_waits(tmp_path):
    rank0 = FileReporter(tmp_path)
    task = Recorder()
    relay = ReportRelay(tmp_path, task)
    checkpoint = tmp_path / "checkpoint-5"
    checkpoint.mkdir()
    (checkpoint / "adapter_model.safetensors").write_bytes(b"w")
    (checkpoint / "optimizer.pt").write_bytes(b"o")

    rank0.metrics({"step": 1, "train_loss": 2.0})
    rank0.event("Step 1", key="step-1", data={"step": 1})
    rank0.checkpoint(step=5, folder=checkpoint, metrics={"train_loss": 1.5})
    with (tmp_path / "reports.jsonl").open("a") as reports:
        reports.write('{"kind": "metrics", "point": {"step": 6')  # rank 0 is still writing this one
    relay.apply_new_reports()
    relay.apply_new_reports()

    assert task.calls == [
        ("metrics", {"step": 1, "train_loss": 2.0}),
        ("event", "Step 1", "step-1", "info", {"step": 1}),
        ("checkpoint", 5, ["adapter_model.safetensors"], {"train_loss": 1.5}),
    ]
    assert not (tmp_path / "relayed-checkpoints" / "checkpoint-5").exists(), "removed once stored"

    with (tmp_path / "reports.jsonl").open("a") as reports:
        reports.write(', "train_loss": 1.2}}\n')
    relay.apply_new_reports()
    assert task.calls[-1] == ("metrics", {"step": 6, "train_loss": 1.2})


def test_a_cancel_on_the_task_side_reaches_rank_0_through_the_stop_file(tmp_path):
    rank0 = FileReporter(tmp_path)
    task = Recorder()
    relay = ReportRelay(tmp_path, task)

    relay.step()
    assert rank0.should_stop() is False
    task.stop = True
    relay.step()

    assert rank0.should_stop() is True
    assert ("heartbeat",) in task.calls


def test_training_stops_when_the_task_process_is_gone(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphaned = FileReporter(tmp_path, task_pid=int(gone.stdout))
    watched = FileReporter(tmp_path, task_pid=None)

    assert orphaned.should_stop() is True
    assert watched.should_stop() is False
