from typing import Any, Never

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from scoring import services
from scoring.models import RescoreJob, ScoreGroup


class Command(BaseCommand):
    help = (
        "Rescore leads from their history with the rules in force now (after a rule change), "
        "with a progress bar. Resumable: --resume JOB continues a stopped job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", help="Only leads in the score group with this key.")
        parser.add_argument("--resume", type=int, metavar="JOB", help="Continue this rescore job.")
        parser.add_argument("--chunk", type=int, default=1000, help="Leads per transaction (default 1000).")

    def handle(self, *args: Any, group: str | None, resume: int | None, chunk: int, **options: Any) -> None:
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
        bar: tqdm[Never] = tqdm(total=job.total, initial=job.done, unit="lead", file=self.stderr)

        def progress(current: RescoreJob) -> None:
            bar.update(current.done - bar.n)

        job = services.rescore_job_run(job_id=job.pk, chunk_size=chunk, progress=progress)
        bar.close()
        self.stdout.write(
            self.style.SUCCESS(f"Rescore job {job.pk}: {job.done} leads rescored, {job.entries} ledger rows written.")
        )
