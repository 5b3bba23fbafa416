"""`dta train`: LoRA (or full) fine-tuning with trl's SFTTrainer on an sft.jsonl / distilled.jsonl.

Examples become prompt/completion pairs rendered with the student's own chat template, thinking
off: exactly the text the Phase II NLL scorer measured, so the loss is on the assistant turn only
(trl's completion-only loss). Checkpoints land in checkpoints/ and a rerun resumes from the last;
the loss points go to loss.jsonl (deduplicated by split and step, so a resume repeats none).
"""

from __future__ import annotations

import os
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
from dta_edge.train.distributed import ProcessRole, process_role
from dta_edge.train.memory_plan import MemoryPlan, plan_memory, refuse_unless_fits
from dta_edge.train.peak_memory import PeakMemory
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


def training_plan(recipe: TrainRecipe, full: bool, resolve: ModelResolver) -> MemoryPlan:
    """The memory plan of this recipe on this machine (the device training will use)."""
    from dta_edge.models.weights import read_config

    model_dir = Path(resolve(recipe.base_model))
    device, bf16, checkpointing = _devices(recipe)
    return plan_memory(read_config(model_dir), model_dir, recipe, full=full, bf16=bf16,
                       checkpointing=checkpointing, device=device)  # fmt: skip


def _plan_line(plan: MemoryPlan) -> str:
    capacity = "" if plan.capacity_mib is None else f" of {plan.capacity_mib / 1024:.1f} GiB"
    return (f"memory plan: about {plan.total_mib:,.0f} MiB{capacity} on {plan.device} "
            f"(weights {plan.weights_mib:,.0f}, trainable {plan.trainable_mib:,.0f}, gradients "
            f"{plan.gradients_mib:,.0f}, optimizer {plan.optimizer_mib:,.0f}, activations "
            f"{plan.activations_mib:,.0f})")  # fmt: skip


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
) -> TrainSummary | None:
    """Fine-tune; write the adapter (or model), loss.jsonl, loss.png, train.json and run.json.

    Whoever calls it (`dta train`, the demo, a notebook) gets the same folder; a rerun resumes
    from the last checkpoint, and a folder of another recipe or data set is refused unless
    ``overwrite`` moves it aside. Under torchrun or accelerate launch every rank trains, rank 0
    alone prepares the folder and writes; the other ranks return None.
    """
    from dta_edge.runs import run_record

    role = process_role()
    if not role.writes:
        _train(recipe, data, out_dir, full=full, resolve=resolve, log=None, quiet=True, role=role)
        return None
    if not read_jsonl(data, SFTExample):  # a missing or bad set: one line, before any work
        raise DataError(f"{data}: no training examples")
    plan = training_plan(recipe, full, resolve)
    (log or (lambda _message: None))(_plan_line(plan))
    refuse_unless_fits(plan, recipe.name)  # before the folder is touched or the model loaded
    config = {"recipe": recipe.model_dump(mode="json"), "data": str(data), "full": full}
    with run_record(out_dir, "train", config, overwrite=overwrite):
        summary = _train(recipe, data, out_dir, full=full, resolve=resolve, log=log, quiet=quiet,
                         role=role, plan=plan)  # fmt: skip
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


def _fit(trainer, writer: JsonlWriter | None, resume: str | None, evaluate: bool) -> tuple:
    """Train (resuming), then one last held-out evaluation logged as a loss point; timed.

    Every rank trains and evaluates (both are collective); only the writing rank has a writer.
    """
    started = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=resume)
        final_eval = trainer.evaluate() if evaluate else {}
        if final_eval and writer is not None:
            writer.write(LossPoint(split="eval", step=trainer.state.global_step,
                                   epoch=trainer.state.epoch or 0.0,
                                   loss=float(final_eval["eval_loss"])))  # fmt: skip
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
    return output, final_eval, time.perf_counter() - started


def _share_trained_now(final_step: int, resume: str | None) -> float:
    """The share of all steps this run trained (a resumed run trained only the rest)."""
    if final_step == 0:
        return 0.0
    start = int(Path(resume).name.rsplit("-", 1)[-1]) if resume else 0
    return (final_step - start) / final_step


def _load_base(recipe: TrainRecipe, model_dir, bf16: bool, full: bool):
    """The base model in the recipe's precision, or frozen in 4-bit NF4 for QLoRA."""
    import torch

    from dta_edge.models.hf_load import load_causal_lm

    dtype = torch.bfloat16 if bf16 else torch.float32
    if recipe.quantization == "none":
        return load_causal_lm(model_dir, dtype=dtype)
    if full:
        raise DataError(f"recipe {recipe.name}: quantization 4bit is QLoRA; it cannot be "
                        "combined with a full fine-tune (--full)")  # fmt: skip
    import importlib.util

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise DataError(f"recipe {recipe.name}: quantization 4bit needs a CUDA GPU and "
                        "bitsandbytes (pip install bitsandbytes); set quantization: none to "
                        "train in 16/32-bit here")  # fmt: skip
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    quantized = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                   bnb_4bit_use_double_quant=True,
                                   bnb_4bit_compute_dtype=torch.bfloat16)  # fmt: skip
    model = load_causal_lm(
        model_dir, quantization_config=quantized, dtype=torch.bfloat16,
        device_map={"": int(os.environ.get("LOCAL_RANK", "0"))},  # this rank's GPU
    )  # fmt: skip
    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)


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
    """Training throughput of all ranks together.

    Every token of the whole training set (which the ranks share out between them), once per
    epoch, over the wall time of the run.
    """
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
    role: ProcessRole,
    plan: MemoryPlan | None = None,
) -> TrainSummary | None:
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_utils import get_last_checkpoint
    from trl import SFTTrainer

    from dta_edge.models.hf_load import load_tokenizer

    say = log or (lambda _message: None)
    model_dir = resolve(recipe.base_model)
    tokenizer = load_tokenizer(model_dir)
    rows, train_rows, eval_rows = _examples(recipe, data, tokenizer.chat_template)
    device, bf16, checkpointing = _devices(recipe)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    peak = PeakMemory(device)
    peak.__enter__()
    model = _load_base(recipe, model_dir, bf16, full)
    checkpoints = out_dir / CHECKPOINTS
    writer = JsonlWriter(out_dir / LOSS, LossPoint).__enter__() if role.writes else None
    trainer = SFTTrainer(
        model=model,
        args=_sft_config(recipe, checkpoints, device, bf16, checkpointing, bool(eval_rows), quiet),
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
        processing_class=tokenizer,
        peft_config=None if full else _lora_config(recipe, model, model_dir),
        callbacks=[_loss_logger(writer)] if writer is not None else [],
    )
    if quiet:  # no progress bar and no printed log dicts (loss.jsonl has them)
        trainer.remove_callback(PrinterCallback)
    trainer.accelerator.wait_for_everyone()  # rank 0 has prepared the folder (run.json)
    resume = get_last_checkpoint(str(checkpoints)) if checkpoints.exists() else None
    processes = f", {role.world_size} processes" if role.world_size > 1 else ""
    say(f"training on {len(train_rows)} examples ({len(eval_rows)} held out), {device}"
        f"{processes}" + (f", resuming from {Path(resume).name}" if resume else ""))  # fmt: skip
    try:
        output, final_eval, seconds = _fit(trainer, writer, resume, bool(eval_rows))
    finally:
        peak.__exit__(None, None, None)
    target = out_dir / (FULL_MODEL if full else ADAPTER)
    trainer.save_model(str(target))  # rank 0 writes; under FSDP every rank gathers its shard
    if not role.writes:
        return None
    tokenizer.save_pretrained(target)
    share = _share_trained_now(trainer.state.global_step, resume)
    if share == 0 and (out_dir / TRAIN_SUMMARY).exists():  # a rerun of a finished run
        earlier = TrainSummary.model_validate_json((out_dir / TRAIN_SUMMARY).read_bytes())
        return earlier.model_copy(update={"resumed_from": resume})
    tokens_per_s = _tokens_per_s(tokenizer, train_rows, recipe.epochs * share, output)
    summary = TrainSummary.model_validate({
        "recipe": recipe.name, "data": str(data), "examples": len(rows),
        "train_examples": len(train_rows), "eval_examples": len(eval_rows),
        "full_fine_tune": full, "device": device, "processes": role.world_size, "bf16": bf16,
        "gradient_checkpointing": checkpointing, "steps": trainer.state.global_step,
        "train_loss": output.training_loss, "eval_loss": final_eval.get("eval_loss"),
        "seconds": seconds, "resumed_from": resume,
        "tokens_per_s": tokens_per_s,
        "output": str(target),
        "memory_plan": plan.model_dump(mode="json") if plan else None,
        "measured_peak_mib": peak.mib, "measured_how": peak.how,
    })  # fmt: skip
    atomic_write_json(out_dir / TRAIN_SUMMARY, summary.model_dump(mode="json"))
    return summary
