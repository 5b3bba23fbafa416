"""Greedy answers of a local transformers model on problems: the tiny model's health check.

The bench stage measures systems properly (backends, timings, energy); this is the quick check
that a freshly built or trained model writes well-formed, scorable answers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import Field

from dta_edge import layout
from dta_edge.config import FrozenModel
from dta_edge.models.chat import ChatTemplate, student_prompt, user_prompt
from dta_edge.records import Problem
from dta_edge.tasks.scoring import ScoreSummary


def greedy_answers(
    model_dir: Path,
    problems: Sequence[Problem],
    *,
    thinking: bool = False,
    max_new_tokens: int = 256,
    batch_size: int = 32,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Generate one greedy completion per problem (chat template, thinking on or off).

    Args:
        model_dir: a transformers model folder with a chat template.
        problems: what to answer.
        thinking: Qwen3 ``enable_thinking``.
        max_new_tokens: generation budget per answer.
        batch_size: prompts per generate call (left padding).
        on_batch: called with the number of problems finished after each batch.

    Returns:
        The decoded completions, special tokens removed, in problem order.
    """
    import torch

    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    tokenizer.padding_side = "left"
    model = load_causal_lm(model_dir, dtype=torch.float32)
    model.eval()
    outputs: list[str] = []
    chat = ChatTemplate(tokenizer.chat_template, f"the chat template of {model_dir}")
    for start in range(0, len(problems), batch_size):
        chunk = problems[start : start + batch_size]
        prompts = [student_prompt(chat, user_prompt(p.question), thinking=thinking) for p in chunk]
        batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        if on_batch is not None:
            on_batch(len(outputs))
    return outputs


class ModelCheck(FrozenModel):
    """How well a model answers held-out generated problems (greedy, one sample each)."""

    model: str
    problems: int
    seed: int
    thinking: bool
    excluded_seen: int = Field(description="Generated problems skipped because training saw them.")
    well_formed_rate: float = Field(
        description="Share with a declared answer (\\boxed{} or 'Answer:')."
    )
    generate_seconds: float
    summary: ScoreSummary = Field(description="pass@1 with its interval, and breakdowns.")


def training_questions(model_dir: Path) -> set[str]:
    """Questions a tiny model was pre-trained on (empty for any other model)."""
    import json

    from dta_edge.models.tiny import BUILD_INFO, corpus_problems
    from dta_edge.models.tiny_config import TinyModelConfig

    info_path = model_dir / BUILD_INFO
    if not info_path.exists():
        return set()
    config = TinyModelConfig.model_validate_json(
        json.dumps(json.loads(info_path.read_text())["config"])
    )
    return {p.question for p in corpus_problems(config)}


def held_out_problems(model_dir: Path, n: int, seed: int) -> tuple[list[Problem], int]:
    """``n`` generated problems from ``seed`` that the model never trained on.

    Returns:
        (the problems, how many generated problems were skipped because training saw them).
    """
    from dta_edge.tasks.generator import ProblemsConfig, generate_problems

    seen = training_questions(model_dir)
    problems: list[Problem] = []
    excluded = 0
    for problem in generate_problems(ProblemsConfig(n=n * 10, seed=seed, id_prefix="check")):
        if problem.question in seen:
            excluded += 1
        elif len(problems) < n:
            problems.append(problem)
        else:
            break
    return problems, excluded


def check_model(
    model_dir: Path,
    out_dir: Path,
    *,
    n: int = 200,
    seed: int = 7,
    thinking: bool = False,
    max_new_tokens: int = 256,
    on_batch: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> ModelCheck:
    """Answer ``n`` generated problems greedily, score them and write the evidence to ``out_dir``.

    Writes problems.jsonl, completions.jsonl, scores.jsonl and check.json. The problems come from
    ``seed``; for a tiny model, any question its pre-training corpus contains is skipped (families
    with few distinct parameter draws repeat questions across seeds), so every problem is unseen.
    """
    import time

    from dta_edge.records import Completion
    from dta_edge.runs import run_record
    from dta_edge.storage import atomic_write_json, write_jsonl
    from dta_edge.tasks.answers import explicit_answer
    from dta_edge.tasks.scoring import score_completion, summarize

    problems, excluded = held_out_problems(model_dir, n, seed)
    settings = {"model": str(model_dir), "n": n, "seed": seed, "thinking": thinking}
    config = {**settings, "max_new_tokens": max_new_tokens}
    with run_record(out_dir, "model.check", config, overwrite=overwrite):
        started = time.perf_counter()
        texts = greedy_answers(
            model_dir, problems, thinking=thinking, max_new_tokens=max_new_tokens, on_batch=on_batch
        )
        seconds = time.perf_counter() - started
        scored = [score_completion(p, 0, t) for p, t in zip(problems, texts, strict=True)]
        summary = summarize(scored, {p.id: p for p in problems}, k_values=(1,))
        result = ModelCheck(
            model=str(model_dir),
            problems=len(problems),
            seed=seed,
            thinking=thinking,
            excluded_seen=excluded,
            well_formed_rate=sum(explicit_answer(t) is not None for t in texts) / len(texts),
            generate_seconds=round(seconds, 1),
            summary=summary,
        )
        completions = [
            Completion(request_id=p.id, text=t) for p, t in zip(problems, texts, strict=True)
        ]
        write_jsonl(out_dir / layout.PROBLEMS, problems)
        write_jsonl(out_dir / layout.COMPLETIONS, completions)
        write_jsonl(out_dir / layout.SCORES, scored)
        atomic_write_json(out_dir / layout.CHECK, result.model_dump(mode="json"))
    return result
