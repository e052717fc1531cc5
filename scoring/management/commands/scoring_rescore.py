import gc
import os
import subprocess
import sys
import time
from typing import Any, Never

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import connection
from django.utils.translation import gettext
from tqdm import tqdm

from scoring import services
from scoring.commands import LeadflowCommand
from scoring.database import database_url
from scoring.models import RescoreJob, ScoreGroup


class Command(LeadflowCommand):
    help = (
        "Rescore leads from their history with the rules in force now (after a rule change), "
        "with a progress bar. Resumable: --resume JOB continues a stopped job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", help="Only leads in the score group with this key.")
        parser.add_argument("--resume", type=int, metavar="JOB", help="Continue this rescore job.")
        parser.add_argument("--chunk", type=int, default=1000, help="Leads per transaction (default 1000).")
        parser.add_argument(
            "--jobs",
            type=int,
            help="Processes sharing the job (PostgreSQL; default LEADFLOW_RESCORE_JOBS, 1 on SQLite).",
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bar and no summary (a helper process).")

    def handle(
        self,
        *args: Any,
        group: str | None,
        resume: int | None,
        chunk: int,
        jobs: int | None,
        quiet: bool,
        **options: Any,
    ) -> None:
        # What the process holds once Django is set up, out of the garbage collector's walks
        # (project/celery.py says why): a third of a rescore's processor time went there.
        gc.freeze()
        if chunk < 1:
            raise CommandError(f"--chunk: {chunk} is not 1 or more")
        if jobs is not None and jobs < 1:
            raise CommandError(f"--jobs: {jobs} is not 1 or more")
        if resume is not None:
            job = RescoreJob.objects.filter(pk=resume).first()
            if job is None:
                raise CommandError(f"--resume: there is no rescore job {resume}")
        else:
            chosen = None
            if group:
                chosen = ScoreGroup.objects.filter(key=group).first()
                if chosen is None:
                    raise CommandError(f"--group: no score group has the key {group!r}")
            job = services.rescore_job_start(group=chosen, background=False)
        if quiet:
            services.rescore_job_run(job_id=job.pk, chunk_size=chunk)
            return
        helpers = self._helpers(job.pk, chunk, jobs)
        bar: tqdm[Never] = tqdm(total=job.total, initial=job.done, unit="lead", file=self.stderr)

        def progress(current: RescoreJob) -> None:
            bar.update(current.done - bar.n)

        try:
            job = services.rescore_job_run(job_id=job.pk, chunk_size=chunk, progress=progress)
            while any(helper.poll() is None for helper in helpers):
                time.sleep(0.5)  # the helpers still hold lanes
                progress(RescoreJob.objects.get(pk=job.pk))
        finally:
            for helper in helpers:
                if helper.poll() is None:
                    helper.terminate()
                helper.wait()
        failed = [helper.returncode for helper in helpers if helper.returncode]
        # The last worker out marked the job done; a helper's lanes left undone go now.
        job = services.rescore_job_run(job_id=job.pk, chunk_size=chunk, progress=progress)
        bar.close()
        if failed:
            self.stderr.write(f"{len(failed)} helper process(es) failed; their lanes were finished here.")
        self.stdout.write(
            self.style.SUCCESS(f"Rescore job {job.pk}: {job.done} leads rescored, {job.entries} ledger rows written.")
        )
        self.stdout.write(_history_seen())

    def _helpers(self, job_id: int, chunk: int, jobs: int | None) -> list[subprocess.Popen[bytes]]:
        """``jobs - 1`` processes working on the job beside this one, on the same database.
        None on SQLite (one writer), or inside a transaction they could not see into."""
        jobs = jobs or settings.LEADFLOW_RESCORE_JOBS
        if jobs <= 1 or connection.vendor != "postgresql" or connection.in_atomic_block:
            return []
        env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE}
        command = [sys.executable, "-m", "django", "scoring_rescore", "--resume", str(job_id)]
        command += ["--chunk", str(chunk), "--quiet"]
        return [subprocess.Popen(command, cwd=settings.BASE_DIR, env=env) for _ in range(jobs - 1)]


def _history_seen() -> str:
    horizon = services.history_horizon()
    if horizon is None:
        return gettext("History seen: all of it (retention is off).")
    return gettext("History seen since {date}: what is older is in each lead's opening balance, left as it is.").format(
        date=horizon.date().isoformat()
    )
