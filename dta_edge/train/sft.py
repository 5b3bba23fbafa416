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
from typing import Literal

from dta_edge.backends.base import render_chat
from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.models.chat import IM_END
from dta_edge.records import SFTExample
from dta_edge.storage import JsonlWriter, atomic_write_json, read_jsonl
from dta_edge.train.recipe import TrainRecipe

LOSS = "loss.jsonl"
Log = Callable[[str], None]


class LossPoint(FrozenModel):
    """One logged loss value."""

    split: Literal["train", "eval"]
    step: int
    epoch: float
    loss: float

    @property
    def key(self) -> str:
        """Resume identity."""
        return f"{self.split}#{self.step}"


def to_prompt_completion(examples: list[SFTExample], template: str) -> list[dict]:
    """Rendered prompt (user turn + assistant header, thinking off) and completion text."""
    rows = []
    for example in examples:
        users = [m for m in example.messages if m.role != "assistant"]
        answer = next(m.content for m in reversed(example.messages) if m.role == "assistant")
        rows.append(
            {"prompt": render_chat(template, users, thinking=False), "completion": answer + IM_END}
        )
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
    targets_dir: Path | None = None,
    log: Log | None = None,
    quiet: bool = False,
) -> dict:
    """Fine-tune; write the adapter (or model), loss.jsonl, loss.png and train.json."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTConfig, SFTTrainer

    from dta_edge.models.references import resolve_model

    say = log or (lambda _message: None)
    examples = read_jsonl(data, SFTExample)
    if not examples:
        raise DataError(f"{data}: no training examples")
    model_dir = resolve_model(recipe.base_model, targets_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = to_prompt_completion(examples, tokenizer.chat_template)
    random.Random(recipe.seed).shuffle(rows)
    n_eval = round(len(rows) * recipe.eval_fraction) if len(rows) >= 10 else 0
    train_rows, eval_rows = rows[n_eval:], rows[:n_eval]
    device, bf16, checkpointing = _devices(recipe)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    peft_config = None
    if not full:
        from peft import LoraConfig

        names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        targets = [t for t in recipe.lora.target_modules if t in names]
        if not targets:
            raise DataError(f"{model_dir}: none of the LoRA target modules "
                            f"{list(recipe.lora.target_modules)} exist in the model")  # fmt: skip
        peft_config = LoraConfig(
            r=recipe.lora.rank, lora_alpha=recipe.lora.alpha, lora_dropout=recipe.lora.dropout,
            target_modules=targets, task_type="CAUSAL_LM",
        )  # fmt: skip
    checkpoints = out_dir / "checkpoints"
    args = SFTConfig(
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
        eval_strategy="steps" if eval_rows else "no",
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
    writer = JsonlWriter(out_dir / LOSS, LossPoint).__enter__()

    class LossLog(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: D102
            for split, key in (("train", "loss"), ("eval", "eval_loss")):
                if logs and key in logs:
                    point = LossPoint(split=split, step=state.global_step,
                                      epoch=state.epoch or 0.0, loss=float(logs[key]))  # fmt: skip
                    writer.write(point)

    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[LossLog()],
    )
    if quiet:  # no progress bar and no printed log dicts (loss.jsonl has them)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.exists() else None
    say(f"training on {len(train_rows)} examples ({len(eval_rows)} held out), {device}"
        + (f", resuming from {Path(resume).name}" if resume else ""))  # fmt: skip
    started = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=resume)
        final_eval = trainer.evaluate() if eval_rows else {}
        if final_eval:
            writer.write(LossPoint(split="eval", step=trainer.state.global_step,
                                   epoch=trainer.state.epoch or 0.0,
                                   loss=float(final_eval["eval_loss"])))  # fmt: skip
    finally:
        writer.__exit__(None, None, None)
    seconds = time.perf_counter() - started
    target = out_dir / ("model" if full else "adapter")
    trainer.model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    tokens = sum(len(tokenizer.encode(r["prompt"] + r["completion"], add_special_tokens=False))
                 for r in train_rows) * recipe.epochs  # fmt: skip
    from dta_edge.train.plot import plot_loss

    plot_loss(out_dir / LOSS, out_dir / "loss.png", title=f"{recipe.name}: {data.name}")
    summary = {
        "recipe": recipe.name, "data": str(data), "examples": len(rows),
        "train_examples": len(train_rows), "eval_examples": len(eval_rows),
        "full_fine_tune": full, "device": device, "bf16": bf16,
        "gradient_checkpointing": checkpointing, "steps": trainer.state.global_step,
        "train_loss": output.training_loss, "eval_loss": final_eval.get("eval_loss"),
        "seconds": seconds, "resumed_from": resume,
        "tokens_per_s": tokens / output.metrics["train_runtime"]
        if output.metrics.get("train_runtime") else None,
        "output": str(target),
    }  # fmt: skip
    atomic_write_json(out_dir / "train.json", summary)
    return summary
