"""`dta train`: LoRA (or full) fine-tuning with trl's SFTTrainer on an sft.jsonl / distilled.jsonl.

Examples become prompt/completion pairs rendered with the student's own chat template, thinking
off: exactly the text the Phase II NLL scorer measured, so the loss is on the assistant turn only
(trl's completion-only loss). Checkpoints land in checkpoints/ and a rerun resumes from the last;
the loss points go to loss.jsonl (deduplicated by split and step, so a resume repeats none).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from dta_edge.errors import DataError
from dta_edge.layout import ADAPTER, CHECKPOINTS, FULL_MODEL, LOSS, LOSS_PLOT, TRAIN_SUMMARY
from dta_edge.models.chat import IM_END, ChatTemplate, student_prompt
from dta_edge.models.references import ModelResolver, resolve_model
from dta_edge.records import LossPoint, SFTExample, TrainSummary
from dta_edge.storage import JsonlWriter, atomic_write_json, read_jsonl
from dta_edge.train.recipe import TrainRecipe

Log = Callable[[str], None]


def to_prompt_completion(examples: list[SFTExample], template: str) -> list[dict]:
    """Rendered prompt (user turn + assistant header, thinking off) and completion text."""
    rows = []
    chat = ChatTemplate(template)
    for example in examples:
        users = [m for m in example.messages if m.role != "assistant"]
        answer = next(m.content for m in reversed(example.messages) if m.role == "assistant")
        rows.append({"prompt": student_prompt(chat, users), "completion": answer + IM_END})
    return rows


def _devices(recipe: TrainRecipe) -> tuple[str, bool, bool]:
    import torch

    cuda = torch.cuda.is_available()
    bf16 = recipe.precision == "bf16" or (
        recipe.precision == "auto" and cuda and torch.cuda.is_bf16_supported()
    )
    checkpointing = recipe.gradient_checkpointing == "on" or (
        recipe.gradient_checkpointing == "auto" and cuda
    )
    return ("cuda" if cuda else "cpu"), bf16, checkpointing


def train(
    recipe: TrainRecipe,
    data: Path,
    out_dir: Path,
    *,
    full: bool = False,
    resolve: ModelResolver = resolve_model,
    log: Log | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> TrainSummary:
    """Fine-tune; write the adapter (or model), loss.jsonl, loss.png, train.json and run.json.

    Whoever calls it (`dta train`, the demo, a notebook) gets the same folder; a rerun resumes
    from the last checkpoint, and a folder of another recipe or data set is refused unless
    ``overwrite`` moves it aside.
    """
    from dta_edge.runs import run_record

    config = {"recipe": recipe.model_dump(mode="json"), "data": str(data), "full": full}
    with run_record(out_dir, "train", config, overwrite=overwrite):
        summary = _train(recipe, data, out_dir, full=full, resolve=resolve, log=log, quiet=quiet)
        from dta_edge.train.plot import plot_loss

        plot_loss(out_dir / LOSS, out_dir / LOSS_PLOT, title=f"{recipe.name}: {data.name}")
    return summary


def _lora_config(recipe: TrainRecipe, model, model_dir: str):
    """The peft LoRA config for the recipe's target modules that this model has."""
    from peft import LoraConfig

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in recipe.lora.target_modules if t in names]
    if not targets:
        raise DataError(f"{model_dir}: none of the LoRA target modules "
                        f"{list(recipe.lora.target_modules)} exist in the model")  # fmt: skip
    return LoraConfig(
        r=recipe.lora.rank, lora_alpha=recipe.lora.alpha, lora_dropout=recipe.lora.dropout,
        target_modules=targets, task_type="CAUSAL_LM",
    )  # fmt: skip


def _sft_config(recipe: TrainRecipe, checkpoints: Path, device: str, bf16: bool,
                checkpointing: bool, evaluate: bool, quiet: bool):  # fmt: skip
    """Trl's SFTConfig from the recipe: cosine schedule, completion-only loss, seeded."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=recipe.epochs,
        per_device_train_batch_size=recipe.batch_size,
        per_device_eval_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=recipe.warmup_ratio,  # a float below 1 is a ratio of the total steps
        weight_decay=recipe.weight_decay,
        logging_steps=recipe.logging_steps,
        save_steps=recipe.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=recipe.logging_steps,
        seed=recipe.seed,
        data_seed=recipe.seed,
        bf16=bf16,
        gradient_checkpointing=checkpointing,
        max_length=recipe.max_length,
        completion_only_loss=True,
        use_cpu=device == "cpu",
        report_to=[],
        save_only_model=False,
        disable_tqdm=quiet,
    )


def _loss_logger(writer: JsonlWriter):
    """A trainer callback appending every logged train and eval loss to loss.jsonl."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D102
            for split, key in (("train", "loss"), ("eval", "eval_loss")):
                if logs and key in logs:
                    point = LossPoint(split=split, step=state.global_step,
                                      epoch=state.epoch or 0.0, loss=float(logs[key]))  # fmt: skip
                    writer.write(point)

    return LossLog()


def _fit(trainer, writer: JsonlWriter, resume: str | None, evaluate: bool) -> tuple:
    """Train (resuming), then one last held-out evaluation logged as a loss point; timed."""
    started = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=resume)
        final_eval = trainer.evaluate() if evaluate else {}
        if final_eval:
            writer.write(LossPoint(split="eval", step=trainer.state.global_step,
                                   epoch=trainer.state.epoch or 0.0,
                                   loss=float(final_eval["eval_loss"])))  # fmt: skip
    finally:
        writer.__exit__(None, None, None)
    return output, final_eval, time.perf_counter() - started


def _examples(recipe: TrainRecipe, data: Path, template: str) -> tuple[list, list, list]:
    """(all rows, train rows, held-out rows): rendered, shuffled with the recipe's seed."""
    examples = read_jsonl(data, SFTExample)
    if not examples:
        raise DataError(f"{data}: no training examples")
    rows = to_prompt_completion(examples, template)
    random.Random(recipe.seed).shuffle(rows)
    n_eval = round(len(rows) * recipe.eval_fraction) if len(rows) >= 10 else 0
    return rows, rows[n_eval:], rows[:n_eval]


def _tokens_per_s(tokenizer, rows: list[dict], epochs: float, output) -> float | None:
    """Training throughput: every prompt and completion token, once per epoch."""
    runtime = output.metrics.get("train_runtime")
    if not runtime:
        return None
    tokens = sum(len(tokenizer.encode(r["prompt"] + r["completion"], add_special_tokens=False))
                 for r in rows) * epochs  # fmt: skip
    return tokens / runtime


def _train(
    recipe: TrainRecipe,
    data: Path,
    out_dir: Path,
    *,
    full: bool,
    resolve: ModelResolver,
    log: Log | None,
    quiet: bool,
) -> TrainSummary:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTTrainer

    say = log or (lambda _message: None)
    model_dir = resolve(recipe.base_model)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows, train_rows, eval_rows = _examples(recipe, data, tokenizer.chat_template)
    device, bf16, checkpointing = _devices(recipe)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    checkpoints = out_dir / CHECKPOINTS
    writer = JsonlWriter(out_dir / LOSS, LossPoint).__enter__()
    trainer = SFTTrainer(
        model=model,
        args=_sft_config(recipe, checkpoints, device, bf16, checkpointing, bool(eval_rows), quiet),
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=None if full else _lora_config(recipe, model, model_dir),
        callbacks=[_loss_logger(writer)],
    )
    if quiet:  # no progress bar and no printed log dicts (loss.jsonl has them)
        trainer.remove_callback(PrinterCallback)
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.exists() else None
    say(f"training on {len(train_rows)} examples ({len(eval_rows)} held out), {device}"
        + (f", resuming from {Path(resume).name}" if resume else ""))  # fmt: skip
    output, final_eval, seconds = _fit(trainer, writer, resume, bool(eval_rows))
    target = out_dir / (FULL_MODEL if full else ADAPTER)
    trainer.model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    summary = TrainSummary.model_validate({
        "recipe": recipe.name, "data": str(data), "examples": len(rows),
        "train_examples": len(train_rows), "eval_examples": len(eval_rows),
        "full_fine_tune": full, "device": device, "bf16": bf16,
        "gradient_checkpointing": checkpointing, "steps": trainer.state.global_step,
        "train_loss": output.training_loss, "eval_loss": final_eval.get("eval_loss"),
        "seconds": seconds, "resumed_from": resume,
        "tokens_per_s": _tokens_per_s(tokenizer, train_rows, recipe.epochs, output),
        "output": str(target),
    })  # fmt: skip
    atomic_write_json(out_dir / TRAIN_SUMMARY, summary.model_dump(mode="json"))
    return summary
