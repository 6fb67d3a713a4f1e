"""Background ``chipplan plan`` jobs for the web app: one subprocess each, with live progress and cancellation.

A job runs ``chipplan plan --progress jsonl`` in its own process, so cancelling it stops the work at once
(SIGTERM, then SIGKILL); the plan writes its folder and its stored run atomically, so a cancelled job leaves
nothing half-written. Job ids are random hex looked up in a dict, never used to build a path from user text.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_RUNNING = 2
MAX_KEPT = 50


@dataclass
class Job:
    id: str
    label: str
    status: str = "queued"  # queued, running, done, failed, cancelled
    created: float = field(default_factory=time.time)
    finished: float | None = None
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    proc: subprocess.Popen | None = None
    folder: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "status": self.status, "created": self.created,
                "finished": self.finished, "stages": self.stages, "run_id": self.run_id, "error": self.error,
                "report_url": f"/runs/{self.run_id}/report" if self.run_id else None}


class Jobs:
    def __init__(self, store: Path):
        self.store = store
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def running(self) -> int:
        return sum(1 for j in self.jobs.values() if j.status in ("queued", "running"))

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def start(self, scenario: Path, *, label: str, seed: int | None, scenarios: int | None,
              folder: Path | None = None) -> Job:
        """Start ``chipplan plan scenario`` in the background. ``folder`` (a job folder the app made) is
        removed when the job ends."""
        job = Job(id=secrets.token_hex(8), label=label, folder=folder)
        work = Path(tempfile.mkdtemp(prefix="chipplan-web-job-"))
        cmd = [sys.executable, "-c", "from chipplan.cli import main; main()", "plan", str(scenario),
               "--out", str(work / "out"), "--store", str(self.store), "--progress", "jsonl", "--json"]
        if seed is not None:
            cmd += ["--seed", str(seed)]
        if scenarios is not None:
            cmd += ["--scenarios", str(scenarios)]
        with self.lock:
            self._trim()
            self.jobs[job.id] = job
        job.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        job.status = "running"
        threading.Thread(target=self._watch, args=(job, work), daemon=True).start()
        return job

    def _watch(self, job: Job, work: Path) -> None:
        proc = job.proc
        assert proc is not None and proc.stderr is not None and proc.stdout is not None
        tail: list[str] = []
        for line in proc.stderr:
            try:
                ev = json.loads(line)
            except ValueError:
                tail.append(line.rstrip())
                continue
            if not isinstance(ev, dict) or "stage" not in ev:
                continue
            if ev["stage"] == "done":
                job.run_id = str(ev.get("note") or "") or None
                continue
            job.stages[str(ev["stage"])] = {"done": ev.get("done", 0), "total": ev.get("total", 1),
                                            "note": ev.get("note", "")}
        out = proc.stdout.read()
        code = proc.wait()
        if job.status != "cancelled":
            if code == 0:
                with contextlib.suppress(ValueError, KeyError):
                    job.run_id = json.loads(out)["run_id"]
                job.status = "done"
            else:
                job.status = "failed"
                job.error = "\n".join(x.removeprefix("error: ") for x in tail[-20:] if x.strip()) or f"exit {code}"
        job.finished = time.time()
        shutil.rmtree(work, ignore_errors=True)
        if job.folder is not None:
            shutil.rmtree(job.folder, ignore_errors=True)

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        if job.status in ("queued", "running") and job.proc is not None:
            job.status = "cancelled"
            job.proc.terminate()
            try:
                job.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                job.proc.kill()
        return job

    def _trim(self) -> None:
        done = [j for j in self.jobs.values() if j.status not in ("queued", "running")]
        for j in sorted(done, key=lambda j: j.created)[:max(0, len(self.jobs) - MAX_KEPT + 1)]:
            self.jobs.pop(j.id, None)

    def shutdown(self) -> None:
        for j in list(self.jobs.values()):
            if j.status in ("queued", "running"):
                self.cancel(j.id)
