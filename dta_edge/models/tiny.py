"""Build the embedded tiny Qwen3: tokenizer, weights and a short pre-training on generated problems.

The result is an ordinary transformers folder (safetensors, tokenizer.json, generation_config.json,
chat template) that every later stage treats like a real Qwen3 checkpoint. Builds are cached under
the user cache directory, keyed by the config, and are bit-for-bit reproducible from the seed.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dta_edge.models.build_threads import FreeCores
from dta_edge.models.chat import (
    ENDOFTEXT,
    IM_END,
    chat_template,
    render_completion,
    render_prompt,
    user_prompt,
)
from dta_edge.models.tiny_config import TinyModelConfig
from dta_edge.records import Problem
from dta_edge.storage import atomic_write_json
from dta_edge.tasks.generator import ProblemsConfig, demo_training_problems, generate_problems

BUILD_INFO = "dta_tiny.json"
StepCallback = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TinyBuild:
    """Where a tiny model is and how it was made."""

    path: Path
    cached: bool
    info: dict


def default_cache_dir() -> Path:
    """The per-user cache of built tiny models."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("dta-edge")) / "tiny-models"


def corpus_problems(config: TinyModelConfig) -> list[Problem]:
    """The generated problems the tiny model learns from (a seed range disjoint from evaluation).

    A share comes from the focus families, the rest from all families; the two are interleaved in
    a seeded order.
    """
    focused = round(config.corpus_problems * config.corpus_focus_fraction)
    if not config.corpus_focus_families:
        focused = 0
    general = ProblemsConfig(
        n=max(config.corpus_problems - focused, 1),
        seed=1_000_000 + config.seed,
        advanced_fraction=config.corpus_advanced_fraction,
        id_prefix="tiny",
    )
    focus = general.model_copy(
        update={
            "n": max(focused, 1),
            "seed": 2_000_000 + config.seed,
            "families": config.corpus_focus_families,
            "id_prefix": "tiny-focus",
        }
    )
    demo = round(config.corpus_problems * config.demo_fraction)
    problems = list(generate_problems(general))[: config.corpus_problems - focused - demo]
    problems += list(generate_problems(focus))[:focused]
    problems += demo_corpus(config, demo)
    random.Random(f"corpus:{config.seed}").shuffle(problems)
    return problems


def demo_corpus(config: TinyModelConfig, n: int) -> list[Problem]:
    """``n`` demo-tier problems (seeds disjoint from evaluation), answers in ``demo_format``.

    The step-by-step working of each rides along as its ``method``: with thinking on, that is
    what the think block holds, so thinking does real work before a (possibly one-line) answer.
    """
    if n == 0:
        return []
    tier = ProblemsConfig(n=n, seed=3_000_000 + config.seed, advanced_fraction=0.5,
                          id_prefix="tiny-demo", tier="demo")  # fmt: skip
    answers = demo_training_problems(
        tier.model_copy(update={"solution_format": config.demo_format})
    )
    return [
        answer.model_copy(update={"method": _working(worked.solution or "")})
        for worked, answer in zip(demo_training_problems(tier), answers, strict=True)
    ]


def _working(solution: str) -> str:
    """A worked solution without its final-answer line: what a think block holds."""
    return "\n".join(line for line in solution.splitlines() if "\\boxed" not in line)


def training_texts(problems: list[Problem], config: TinyModelConfig) -> Iterator[tuple[str, str]]:
    """(prompt, completion) pairs: thinking on for a share, the instruction line on half."""
    rng = random.Random(f"texts:{config.seed}")
    for problem in problems:
        instruction = rng.random() < 0.5
        user = user_prompt(problem.question) if instruction else problem.question
        thinking = rng.random() < config.thinking_fraction
        prompt = render_prompt(user, thinking=thinking)
        completion = render_completion(
            problem.solution or "", reasoning=problem.method if thinking else None
        )
        yield prompt, completion


def _examples(tokenizer, pairs: list[tuple[str, str]], max_len: int) -> list[tuple[list[int], int]]:
    """Token ids of prompt + completion, and where the completion (which alone has loss) starts."""
    out = []
    for prompt, completion in pairs:
        p_ids = tokenizer.encode(prompt, add_special_tokens=False)
        c_ids = tokenizer.encode(completion, add_special_tokens=False)
        if len(p_ids) + len(c_ids) <= max_len:
            out.append((p_ids + c_ids, len(p_ids)))
    return out


def _lr_at(step: int, config: TinyModelConfig) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _epoch_batches(examples, batch_size: int, generator) -> list[list[int]]:
    """One epoch of batches: shuffled, then sorted by length within windows of 8 batches.

    Sorting within a window keeps padding low; the window keeps each batch a mix of problem
    families, which a globally length-sorted order would not (and the gradient gets noisy).
    """
    import torch

    order = torch.randperm(len(examples), generator=generator).tolist()
    window = 8 * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(examples[i][0]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffled]


THREAD_CHECK_STEPS = 20  # how often the builder re-reads the free cores (a few seconds)


def _train(
    model, examples, pad_id: int, config: TinyModelConfig, on_step: StepCallback | None,
    free: FreeCores | None,
) -> tuple[list[float], dict[str, int]]:  # fmt: skip
    """The pre-training losses, and the optimizer steps run at each thread count.

    With ``free``, the thread count follows it every ``THREAD_CHECK_STEPS`` steps; without, it
    stays as the caller set it.
    """
    import torch

    steps_at: dict[str, int] = {}
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=0.01, betas=(0.9, 0.95)
    )
    schedule: list[list[int]] = []
    losses: list[float] = []
    model.train()
    for step in range(config.steps):
        if free is not None and step % THREAD_CHECK_STEPS == 0:
            torch.set_num_threads(free.threads())
        count = str(torch.get_num_threads())
        steps_at[count] = steps_at.get(count, 0) + 1
        if not schedule:
            schedule = _epoch_batches(examples, config.batch_size, generator)
        batch = [examples[i] for i in schedule.pop()]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, start) in enumerate(batch):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            labels[row, start : len(ids)] = torch.tensor(ids[start:])
            mask[row, : len(ids)] = 1
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, config)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step + 1, config.steps, losses[-1])
    model.eval()
    return losses, steps_at


def _qwen3_config(config: TinyModelConfig, vocab_size: int, pad_id: int, eos_id: int):
    """The transformers Qwen3Config of the tiny model (tied embeddings, fp32)."""
    from transformers import Qwen3Config

    return Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        head_dim=config.head_dim,
        max_position_embeddings=config.max_position_embeddings,
        rope_parameters={"rope_type": "default", "rope_theta": config.rope_theta},
        tie_word_embeddings=True,
        bos_token_id=pad_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        dtype="float32",
    )


def _pretrain(
    model_config, examples, pad_id: int, config: TinyModelConfig, on_step: StepCallback | None,
    threads: int | None,
) -> tuple:  # fmt: skip
    """(model, losses, steps at each thread count): seeded, on ``threads`` or the free cores.

    torch's thread count is the caller's again afterwards, whatever the build chose.
    """
    import torch
    from transformers import Qwen3ForCausalLM

    before = torch.get_num_threads()
    free = FreeCores(before) if threads is None else None
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = Qwen3ForCausalLM(model_config)
            losses, steps_at = _train(model, examples, pad_id, config, on_step, free)
    finally:
        torch.set_num_threads(before)
    return model, losses, steps_at


def build_tiny_model(
    config: TinyModelConfig,
    out_dir: Path,
    on_step: StepCallback | None = None,
    threads: int | None = None,
) -> dict:
    """Build the model into ``out_dir`` (no cache); return its build info.

    Args:
        config: architecture and pre-training recipe.
        out_dir: an empty or new folder.
        on_step: called after every optimizer step with (step, total, loss), for progress bars.
        threads: torch threads for the whole build; None follows the cores other processes
            leave free (models/build_threads.py), never more than torch's own count. The
            weights are the same either way.
    """
    import torch
    import transformers
    from transformers import GenerationConfig

    from dta_edge.models.tokenizer import train_bpe, wrap_for_transformers

    started = time.perf_counter()
    problems = corpus_problems(config)
    pairs = list(training_texts(problems, config))
    raw = train_bpe((text for pair in pairs for text in pair), config.vocab_size)
    tokenizer = wrap_for_transformers(raw, chat_template())
    pad_id, eos_id = (
        tokenizer.convert_tokens_to_ids(ENDOFTEXT),
        tokenizer.convert_tokens_to_ids(IM_END),
    )
    model_config = _qwen3_config(config, len(tokenizer), pad_id, eos_id)
    examples = _examples(tokenizer, pairs, config.max_seq_len)
    model, losses, steps_at = _pretrain(model_config, examples, pad_id, config, on_step, threads)
    model.generation_config = GenerationConfig(
        bos_token_id=pad_id,
        eos_token_id=[eos_id, pad_id],
        pad_token_id=pad_id,
        do_sample=False,
        max_new_tokens=256,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    tail = losses[-20:]
    info = {
        "config": config.model_dump(mode="json"),
        "cache_key": config.cache_key(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "training_examples": len(examples),
        "final_loss": sum(tail) / len(tail),
        "first_loss": losses[0],
        "build_seconds": round(time.perf_counter() - started, 1),
        "steps_at_threads": steps_at,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    atomic_write_json(out_dir / BUILD_INFO, info)
    return info


def cached_tiny_model(
    config: TinyModelConfig | None = None, cache_dir: Path | None = None
) -> Path | None:
    """The cached build's folder if the tiny model for ``config`` was built before, else None."""
    config = config or TinyModelConfig()
    final = (cache_dir or default_cache_dir()) / config.cache_key()
    return final if (final / BUILD_INFO).exists() else None


def tiny_model(
    config: TinyModelConfig | None = None,
    *,
    cache_dir: Path | None = None,
    on_step: StepCallback | None = None,
) -> TinyBuild:
    """Return the cached tiny model for ``config``, building it on first use.

    The build happens in a temporary folder beside the cache entry and is renamed into place, so
    an interrupted build never leaves a half-written model that looks complete.
    """
    config = config or TinyModelConfig()
    root = cache_dir or default_cache_dir()
    final = root / config.cache_key()
    if (final / BUILD_INFO).exists():
        return TinyBuild(final, True, json.loads((final / BUILD_INFO).read_text()))
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        info = build_tiny_model(config, staging, on_step)
        try:
            staging.rename(final)
        except OSError:
            if not (final / BUILD_INFO).exists():
                raise
            shutil.rmtree(staging)  # another process finished first (test workers): keep theirs
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return TinyBuild(final, False, info)


def holds_build(out_dir: Path, cache_key: str) -> bool:
    """Whether ``out_dir`` already holds a copy of the build with ``cache_key``, whole."""
    info = out_dir / BUILD_INFO
    try:
        return json.loads(info.read_text(encoding="utf-8")).get("cache_key") == cache_key
    except (OSError, ValueError, AttributeError):
        return False


def export_tiny_model(build: TinyBuild, out_dir: Path, *, overwrite: bool = False) -> Path:
    """Copy a built model to ``out_dir`` (what `dta model tiny --out` delivers).

    A folder that already holds this very build (same files, same build record) is left as it
    is. Any other folder that holds files is refused (old and new files would mix into a model
    neither build made); with ``overwrite`` a model folder is moved aside whole first.
    """
    from dta_edge.run_folder import check_new_folder, move_aside

    same = {p.name: p.stat().st_size for p in build.path.iterdir()}
    if out_dir.is_dir() and holds_build(out_dir, build.info["cache_key"]):
        copied = {p.name: p.stat().st_size for p in out_dir.iterdir()}
        if copied == same and not overwrite:
            return out_dir
    if check_new_folder(out_dir, overwrite=overwrite, marker="config.json"):
        move_aside(out_dir)
    elif out_dir.is_dir():
        out_dir.rmdir()  # empty: copytree makes it anew
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(build.path, out_dir)
    return out_dir


def train_further(
    model_dir: Path,
    pairs: list[tuple[str, str]],
    config: TinyModelConfig,
    out_dir: Path,
    on_step: StepCallback | None = None,
) -> list[float]:
    """Go on training a built model on (prompt, completion) pairs with the builder's own loop.

    All parameters move, with the builder's optimizer and schedule (``config.steps``,
    ``learning_rate``, ``batch_size``, ``warmup_steps``): the reference point against which a
    LoRA fine-tune of the same model is judged. Returns the loss of every step.
    """
    import torch

    from dta_edge.models.hf_load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    model = load_causal_lm(model_dir, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        losses, _ = _train(
            model, _examples(tokenizer, pairs, config.max_seq_len), tokenizer.pad_token_id,
            config, on_step, None,  # the trainer's own thread setting, as before
        )  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return losses
