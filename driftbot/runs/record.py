"""`RunRecord`: what the stages of a run produced so far, and the Report it assembles.

Each story (check, detect, status) fills one as its stages return; a failing stage still
yields the report of the stages before it (DESIGN.md, exit codes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from driftbot.compare.findings import Finding
from driftbot.errors import DriftbotError
from driftbot.postgres import Server
from driftbot.project.locate import Project
from driftbot.project.migrate import MigrationRun
from driftbot.report.model import CacheInfo, ErrorInfo, LiveInfo, PostgresInfo, ProjectInfo, Report, SyncResult, outcome
from driftbot.safety import containment
from driftbot.safety.masking import scrub
from driftbot.suggest.generate import Suggestion

log = logging.getLogger(__name__)


@dataclass
class RunRecord:
    """What the stages produced so far: enough to report even when a later stage fails."""

    project: Project | None = None
    server: Server | None = None
    migrations: MigrationRun | None = None
    findings: list[Finding] = field(default_factory=list)
    suggestion: Suggestion | None = None
    sync: SyncResult | None = None
    live: LiveInfo | None = None
    cache: CacheInfo | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0) + time.perf_counter() - started, 4)

    def execute(self, body: Callable[[], None]) -> DriftbotError | None:
        """Run the stages in `body`, timing the whole; the error that ended them, if any."""
        started = time.perf_counter()
        error: DriftbotError | None = None
        containment.reset()
        try:
            body()
        except DriftbotError as exc:
            log.debug("run failed", exc_info=exc)
            error = exc
        self.timings["total"] = round(time.perf_counter() - started, 4)
        return error

    def report(self, error: DriftbotError | None = None) -> Report:
        info = ErrorInfo(error.stage, scrub(error.message), scrub(error.hint)) if error else None
        findings = tuple(self.findings)
        synced = self.sync is not None and not self.sync.remaining
        status, exit_code = outcome(findings, info, error.exit_code if error else 0, synced)
        project = None
        if self.project is not None:
            p = self.project
            project = ProjectInfo(
                str(p.root), str(p.config_file), str(p.script_location), p.heads, tuple(p.file_of(h) for h in p.heads)
            )
        postgres = PostgresInfo(self.server.provider, self.server.version) if self.server else None
        return Report(
            status,
            exit_code,
            project,
            postgres,
            self.migrations,
            findings,
            dict(self.timings),
            info,
            self.suggestion,
            self.sync,
            self.live,
            redirects=containment.redirects(),
            cache=self.cache,
        )
