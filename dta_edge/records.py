"""The typed records that flow between stages, one JSONL line each.

Every record is frozen, carries ``schema_version`` and exposes ``key``: the identity that resume
uses to skip work already written. Units live in field names (``_s``, ``_ms``, ``_j``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dta_edge.config import FrozenModel

Difficulty = Literal["basic", "advanced"]


# A record whose request itself failed (server, network) is not done: a rerun asks again.
RequestFailed = Annotated[
    bool,
    Field(description="The request itself failed (server, network): not done, retried on a rerun."),
]


def sample_key(*parts: object) -> str:
    """The resume key of a record from its identifying fields (``problem#teacher#sample``).

    Records build their ``key`` here, and a resuming stage asks here which keys it still needs,
    so the format is written once.
    """
    return "#".join(str(part) for part in parts)


class Problem(FrozenModel):
    """One domain problem with a verified answer (generated or loaded from a benchmark)."""

    schema_version: Literal[1] = 1
    id: str = Field(description="Unique within its file.")
    source: str = Field(description="Where it came from: 'telecom-generator', 'telemath', ...")
    category: str = Field(description="TeleMath category, or the source's own subject.")
    family: str | None = Field(default=None, description="Generator family, when generated.")
    difficulty: Difficulty | None = None
    question: str
    answer: float | None = Field(
        description="Numeric answer (finite); None for a symbolic one.", allow_inf_nan=False
    )
    answer_text: str = Field(
        description="The answer as written (symbolic answers are scored here)."
    )
    unit: str | None = None
    rel_tol: float | None = Field(
        default=None, description="Relative tolerance for this problem; None uses the scorer's."
    )
    solution: str | None = Field(default=None, description="Step-by-step reference solution.")
    method: str | None = Field(default=None, description="One-line plan of the solution.")
    tags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """Resume identity."""
        return self.id


class Completion(FrozenModel):
    """One generated sample for one request, as every backend returns it."""

    schema_version: Literal[1] = 1
    request_id: str
    sample_index: int = 0
    text: str
    reasoning_text: str = ""
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    finish_reason: str | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.request_id, self.sample_index)


class ScoredCompletion(FrozenModel):
    """A completion after answer extraction and comparison with the reference."""

    schema_version: Literal[1] = 1
    problem_id: str
    sample_index: int
    extracted: str | None = Field(description="The answer string found, or None.")
    value: float | None = Field(description="Its numeric value in the reference unit, if numeric.")
    correct: bool
    reason: str = Field(description="Why it is (in)correct, for humans reading the file.")
    verdicts: dict[str, bool] = Field(
        default_factory=dict,
        description="Correct under each scoring protocol; `correct` is the chosen one's.",
    )

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.problem_id, self.sample_index)


class Candidate(FrozenModel):
    """A Phase I teacher solution for one problem."""

    schema_version: Literal[1] = 1
    problem_id: str
    teacher: str
    sample_index: int
    text: str
    extracted_answer: str | None = None
    value: float | None = Field(default=None, description="Numeric answer in the reference unit.")
    correct: bool | None = Field(default=None, description="Against the reference, where known.")
    synthetic: bool = Field(
        default=False, description="Deliberately corrupted by the demo teacher."
    )
    output_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = Field(default=None, description="Why the request failed, if it did.")

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.problem_id, self.teacher, self.sample_index)


class ChatMessage(FrozenModel):
    """One chat turn."""

    role: Literal["system", "user", "assistant"]
    content: str


class SFTExample(FrozenModel):
    """One supervised fine-tuning example (the DTA set or the distilled control set)."""

    schema_version: Literal[1] = 1
    id: str
    problem_id: str
    set_name: Literal["dta", "distilled"]
    messages: tuple[ChatMessage, ...]
    teacher: str | None = None
    student_nll_before: float | None = None
    student_nll_after: float | None = None

    @property
    def key(self) -> str:
        """Resume identity."""
        return self.id


class BenchResult(FrozenModel):
    """One request of a bench suite: what was asked, answered, scored, and what it cost.

    Energy is measured over a window: one request when samples are issued one after another, or
    the k samples of a problem together when issued in parallel; then ``energy_j`` is the
    window's energy shared by output tokens and ``window_*`` hold the window's own figures.
    """

    schema_version: Literal[1] = 1
    system: str
    problem_id: str
    sample_index: int
    text: str
    reasoning: str | None = None
    extracted: str | None
    value: float | None = None
    correct: bool
    verdicts: dict[str, bool] = Field(
        default_factory=dict,
        description="Correct under each scoring protocol; `correct` is the suite's protocol's.",
    )
    error: str | None = Field(default=None, description="Why the request failed, if it did.")
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    decode_tokens_per_s: float | None = None
    energy_j: float | None = None
    energy_estimated: bool | None = None
    meter: str = "none"
    energy_method: str | None = Field(
        default=None, description="How the meter got the energy; an estimate states its model."
    )
    window_id: str = Field(default="", description="Requests measured in one energy window.")
    window_ms: float | None = None
    window_energy_j: float | None = None
    backend_timings: dict[str, float] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.system, self.problem_id, self.sample_index)


class AlignedCandidate(FrozenModel):
    """Phase II on one agreed teacher solution: its rewrite in the student's voice, and scores."""

    schema_version: Literal[1] = 1
    problem_id: str
    teacher: str
    sample_index: int
    original: str
    rewrite: str | None = Field(description="The kept phrasing; None when every one failed.")
    agreement: float = Field(description="Share of answers agreeing (1.0 = matches reference).")
    nll_before: float | None = Field(description="Student NLL per token of the original.")
    nll_after: float | None = Field(description="Student NLL per token of the kept rewrite.")
    kept: bool
    reason: str = Field(description="Why it was kept or rejected.")
    failed: RequestFailed = False

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.problem_id, self.teacher, self.sample_index)


class JudgeVerdict(FrozenModel):
    """The reflection judge on one rewrite: first verdict, reflected verdict (which decides)."""

    schema_version: Literal[1] = 1
    problem_id: str
    teacher: str
    sample_index: int
    first: dict | None = None
    reflected: dict | None = None
    accepted: bool
    score: float | None = None
    reason: str
    failed: RequestFailed = False

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.problem_id, self.teacher, self.sample_index)


class LossPoint(FrozenModel):
    """One logged loss value of a training run (loss.jsonl): train, report and analysis read it."""

    split: Literal["train", "eval"]
    step: int
    epoch: float
    loss: float

    @property
    def key(self) -> str:
        """Resume identity."""
        return sample_key(self.split, self.step)


class Phase1Counts(FrozenModel):
    """Phase I: every teacher sample."""

    candidates: int
    by_teacher: dict[str, int]
    request_errors: int
    synthetic_wrong: int
    no_answer_found: int
    correct_vs_reference: int


class AgreementCounts(FrozenModel):
    """Candidates whose answer agrees (with the reference, else the majority)."""

    agreed: int
    rejected: int


class Phase2Counts(FrozenModel):
    """Phase II rewriting: kept only where the student's NLL per token fell."""

    rewritten: int
    kept: int
    rejected: dict[str, int] = Field(description="Rejected rewrites by reason.")
    student_nll_before_mean: float | None
    student_nll_after_mean: float | None


class JudgeCounts(FrozenModel):
    """The reflection judge on the kept rewrites."""

    judged: int
    accepted: int
    rejected: dict[str, int]
    revised_by_reflection: int


class SelectionCounts(FrozenModel):
    """One selected set: kept, and dropped by reason (per-problem cap, quota, duplicate)."""

    kept: int
    dropped: dict[str, int]


class ContaminationExample(FrozenModel):
    """One item a decontamination check caught, with the bench question it holds (excerpts)."""

    kind: Literal["problem", "solution"]
    id: str = Field(description="The problem's id, or the solution's (problem-teacher-sample).")
    method: Literal["exact", "normalised", "ngram", "near-duplicate"]
    bench_id: str
    text: str
    bench_question: str


class DecontaminationCounts(FrozenModel):
    """What the check against the bench questions caught before Phase I and at selection."""

    bench_questions: int
    dropped: bool = Field(description="Caught items were dropped (false: only counted).")
    problems_checked: int
    problems_caught: int
    solutions_checked: int
    solutions_caught: int
    by_method: dict[str, int] = Field(description="Caught items by the first check that fired.")
    examples: tuple[ContaminationExample, ...] = ()


class Funnel(FrozenModel):
    """funnel.json: how many items survive each curation step (curate -> report, demo, CLI)."""

    schema_version: Literal[1] = 1
    problems: int
    decontamination: DecontaminationCounts | None = Field(
        default=None, description="None: the recipe names no bench questions to check against."
    )
    phase1: Phase1Counts
    agreement: AgreementCounts
    phase2: Phase2Counts
    judge: JudgeCounts
    selection: dict[str, SelectionCounts] = Field(description="'dta' and 'distilled'.")
    outputs: dict[str, int] = Field(description="Examples written per output file.")


class TrainSummary(FrozenModel):
    """train.json: one training run (train -> report, demo, CLI)."""

    schema_version: Literal[1] = 1
    recipe: str
    data: str
    examples: int
    train_examples: int
    eval_examples: int
    full_fine_tune: bool
    device: str
    processes: int = Field(default=1, description="Training processes (ranks) that shared it.")
    bf16: bool
    gradient_checkpointing: bool
    steps: int
    train_loss: float
    eval_loss: float | None
    seconds: float
    resumed_from: str | None
    tokens_per_s: float | None
    output: str
    memory_plan: dict | None = Field(
        default=None, description="The estimated memory of the run (train.memory_plan)."
    )
    measured_peak_mib: float | None = Field(
        default=None,
        description="Measured peak of what training added: the GPU's allocated peak, or on the "
        "CPU the resident memory's growth from before the model was loaded.",
    )
    measured_how: str | None = None
