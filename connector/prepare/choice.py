"""Which path prepares the records, and in how many prepare processes: decided once, from the
settings and this process's CPUs, for the pipeline, `check-config` and the start log alike.

The native path (connector/prepare/native.py) takes the common records when it is built and
follows the settings; `pipeline.prepare_processes: auto` is then 0, since it prepares without the
GIL in the Kafka thread, else one process when the process may use 2 CPUs or more
(connector/process/cpus.py). The choice also says, per input and setting, which path prepares
and why, and holds the counts of what each path prepared (`counts`, which the preparer it opens
adds to and the metric `spotify_capi.prepare.records` reads through `PipelineStatus.prepared`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from connector.config import Settings
from connector.ports import PrepareCounts
from connector.prepare import native
from connector.prepare.pool import PreparePool
from connector.prepare.preparer import Preparer
from connector.process import cpus


@dataclass(frozen=True, slots=True)
class PrepareChoice:
    native: bool  # the native path takes the records it can
    processes: int  # prepare processes; 0: the Kafka thread prepares
    usable_cpus: int | None = None  # what `auto` was sized from; None for a count
    # Per input and setting, which path prepares and why (native.coverage).
    why: tuple[str, ...] = field(default=(), compare=False)
    counts: PrepareCounts = field(default_factory=Counter, compare=False, repr=False)

    def open(self, settings: Settings) -> Preparer | PreparePool:
        """The preparer this choice makes (close it when done); it counts into `counts`."""
        if self.processes == 0:
            return Preparer(
                settings.decode, settings.transform, settings.routing, counts=self.counts
            )
        return PreparePool(
            settings.decode,
            settings.transform,
            self.processes,
            settings.routing,
            counts=self.counts,
        )

    def describe(self) -> str:
        """What `check-config` and the start log say of it."""
        where = (
            "in the Kafka thread"
            if self.processes == 0
            else f"in {self.processes} prepare process(es)"
        )
        cpus_note = "" if self.usable_cpus is None else f" (auto: {self.usable_cpus} CPUs usable)"
        path = "the native path for the common case" if self.native else "the Python path"
        why = f": {'; '.join(self.why)}" if self.why else ""
        return f"decode and transform {where}{cpus_note}, {path}{why}"


def choose(settings: Settings) -> PrepareChoice:
    setting = settings.pipeline.prepare_processes
    covered = native.coverage(settings.decode, settings.transform)
    off = native.off_reason()
    takes_native = off is None and covered.native
    return PrepareChoice(
        native=takes_native,
        processes=cpus.prepare_processes(setting, native=takes_native),
        usable_cpus=cpus.usable_cpus() if setting == "auto" else None,
        why=covered.why if off is None else (off,),
    )
