"""Curation recipes (curation/<name>.yaml): teachers, student, rewriter, judge and selection.

Every model in a recipe is a Generator backend (dta_edge/backends), so a teacher can be a vLLM
endpoint, a hosted API, a llama.cpp server or an in-process model without code changes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from dta_edge.backends.base import SamplingSettings
from dta_edge.backends.registry import BackendName
from dta_edge.config import FrozenModel, repeated_names
from dta_edge.models.chat import DEFAULT_INSTRUCTION
from dta_edge.models.references import EMBEDDED
from dta_edge.tasks.sources import ProblemSource

REFERENCE_STYLES = ("steps", "formula-first", "narrative", "terse")


class ModelSpec(FrozenModel):
    """A model behind a Generator backend."""

    backend: BackendName = Field(description="A registered backend (dta_edge/backends).")
    model: str = Field(description=f"Folder, GGUF, hub id or served name; '{EMBEDDED}' allowed.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Backend options; API keys only via api_key_env."
    )
    sampling: SamplingSettings = SamplingSettings()


class TeacherSpec(FrozenModel):
    """One Phase I teacher: a model, or the built-in reference writer."""

    name: str
    kind: Literal["model", "reference"] = "model"
    model: ModelSpec | None = None
    k: int = Field(default=1, ge=1, description="Samples per problem.")
    prompt: str = Field(default="curation/prompts/teacher.jinja", description="Jinja template.")
    concurrency: int = Field(default=1, ge=1, description="Problems in flight for this teacher.")
    thinking: bool = Field(
        default=False,
        description="Ask with thinking on; the candidate is the think block's work followed by "
        "the answer, as distillation from reasoning traces keeps it.",
    )
    styles: tuple[str, ...] = Field(
        default=REFERENCE_STYLES, description=f"reference only: among {REFERENCE_STYLES}."
    )
    wrong_fraction: float = Field(
        default=0.0, ge=0, le=1, description="reference only: share of answers made wrong."
    )
    seed: int = 0

    @model_validator(mode="after")
    def _model_for_model_teachers(self) -> TeacherSpec:
        if self.kind == "model" and self.model is None:
            raise ValueError(f"teacher {self.name}: kind model needs model")
        unknown = sorted(set(self.styles) - set(REFERENCE_STYLES))
        if unknown:
            raise ValueError(f"unknown styles {unknown}; known: {', '.join(REFERENCE_STYLES)}")
        return self


class StudentSpec(FrozenModel):
    """The student: writes style exemplars, rewrites by default, and scores alignment (NLL)."""

    model: str = Field(
        description="transformers folder, GGUF file, embedded:tiny, or (scorer openai) the name "
        "a server serves the student under."
    )
    scorer: Literal["transformers", "llama-cpp", "openai"] = Field(
        default="transformers",
        description="Runtime of the NLL scorer: transformers (a folder; device_map shards it "
        "over one machine's GPUs), llama-cpp (a GGUF), openai (a served student: prompt "
        "log-probabilities from an OpenAI-compatible completions endpoint, e.g. vLLM).",
    )
    scorer_options: dict[str, Any] = Field(
        default_factory=dict,
        description="scorer openai: the openai backend's options (base_url, one or several; "
        "api_key_env; chat_template, the student's tokenizer folder or .jinja; concurrency; "
        "retries). The student is also asked through them for its exemplars and rewrites.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    device_map: str | None = Field(
        default=None,
        description="scorer transformers: 'auto' spreads the student's layers over every GPU "
        "of this machine (accelerate); None puts it whole on `device`.",
    )
    batch_size: int = Field(default=8, ge=1, description="Sequences per NLL batch.")
    exemplars: int = Field(default=3, ge=0, description="Greedy attempts shown as its voice.")
    exemplar_seed: int = Field(default=9_001, description="Held-out problems for exemplars.")
    max_tokens: int = Field(default=256, ge=1)


class AgreementSpec(FrozenModel):
    """When a teacher answer counts as agreed."""

    rel_tol: float = Field(default=0.01, gt=0, description="Numeric tolerance.")
    min_ratio: float = Field(
        default=0.5, gt=0, le=1, description="Without a reference: majority share required."
    )


class RewriterSpec(FrozenModel):
    """Phase II rewriting."""

    kind: Literal["model", "restyle"] = Field(
        default="model",
        description="model: a model rewrites (the student unless `model` is set); restyle: the "
        "built-in rule-based rewriter into numbered steps (offline demo stand-in, no model).",
    )
    model: ModelSpec | None = Field(default=None, description="None: the student rewrites.")
    prompt: str = "curation/prompts/rewrite.jinja"
    phrasings: int = Field(default=2, ge=1, description="Rewrites tried per solution.")
    sampling: SamplingSettings = SamplingSettings(temperature=0.7, top_p=0.95, max_tokens=256)
    concurrency: int = Field(default=1, ge=1)


class JudgeSpec(FrozenModel):
    """The reflection judge; the reflected verdict decides."""

    enabled: bool = True
    kind: Literal["model", "rule"] = Field(
        default="model",
        description="model: an LLM judges and reflects; rule: the built-in checker (the boxed "
        "answer must be the result the steps reach; offline demo stand-in, no model).",
    )
    model: ModelSpec | None = Field(default=None, description="None: the student judges.")
    prompt: str = "curation/prompts/judge.jinja"
    reflect_prompt: str = "curation/prompts/reflect.jinja"
    min_score: float = Field(default=6, ge=1, le=10)
    retries: int = Field(default=2, ge=0, description="Re-asks on malformed JSON.")
    json_schema: bool = Field(
        default=True, description="Send response_format json_schema (vLLM, llama.cpp server)."
    )
    concurrency: int = Field(default=1, ge=1)


class SelectionSpec(FrozenModel):
    """Which aligned solutions enter the SFT set."""

    per_problem: int = Field(default=2, ge=1, description="Exemplars kept per problem (m).")
    category_share: float = Field(
        default=1.0, gt=0, le=1, description="Max share of the budget one category may take."
    )
    budget: int | None = Field(default=None, ge=1, description="Max examples in total.")
    near_duplicate: float = Field(
        default=0.85, gt=0, le=1, description="MinHash Jaccard at or above this is a duplicate."
    )
    matched: bool = Field(
        default=False,
        description="Make the distilled-only control the DTA set's twin: the same problems with "
        "the same number of examples each (both trimmed where one has fewer), so the two sets "
        "differ by Phase II alone.",
    )


class DecontaminationSpec(FrozenModel):
    """The bench questions no training problem or solution may carry (curation/decontaminate)."""

    against: tuple[ProblemSource, ...] = Field(
        default=(), description="Bench problems: generated, or files (JSONL/CSV/Parquet)."
    )
    ngram: int = Field(default=13, ge=4, description="Shared words in a run that count as a copy.")
    near_duplicate: float = Field(
        default=0.5, gt=0, le=1,
        description="Word-set Jaccard at or above this, with every number of the bench "
        "question present, is a paraphrase.",
    )  # fmt: skip
    drop: bool = Field(default=True, description="Drop caught items (false: only count them).")


class CurationRecipe(FrozenModel):
    """`dta curate --recipe`: Phase I, Phase II and selection."""

    kind: Literal["curation-recipe"] = "curation-recipe"
    name: str
    description: str = ""
    problems: ProblemSource
    n: int | None = Field(default=None, ge=1)
    instruction: str | None = DEFAULT_INSTRUCTION
    student: StudentSpec
    teachers: tuple[TeacherSpec, ...] = Field(min_length=1)
    agreement: AgreementSpec = AgreementSpec()
    rewriter: RewriterSpec = RewriterSpec()
    judge: JudgeSpec = JudgeSpec()
    selection: SelectionSpec = SelectionSpec()
    decontaminate: DecontaminationSpec = Field(
        default_factory=DecontaminationSpec,
        description="Bench questions to keep out of the training sets (none: no check).",
    )

    @model_validator(mode="after")
    def _unique_teachers(self) -> CurationRecipe:
        repeated_names([t.name for t in self.teachers], "teacher")
        return self
