"""Which process of a multi-process training run this is (torchrun, accelerate launch).

Under DDP or FSDP every rank runs the same `dta train`; only rank 0 may write the run's files
(loss.jsonl, plots, adapter, train.json, run.json), or they race and points appear twice. Both
launchers export RANK, LOCAL_RANK and WORLD_SIZE before Python starts, so the role is known
before torch.distributed is initialised and before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessRole:
    """This process's place in the launch: its global rank and the number of processes."""

    rank: int
    world_size: int

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (rank 0 only)."""
        return self.rank == 0


def process_role() -> ProcessRole:
    """The role torchrun / accelerate launch gave this process (rank 0 of 1 when run alone)."""
    return ProcessRole(rank=int(os.environ.get("RANK", "0")),
                       world_size=int(os.environ.get("WORLD_SIZE", "1")))  # fmt: skip
