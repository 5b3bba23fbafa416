"""Every file and folder name of a run folder, in one place.

Writers and readers (stages, report, demo, analyses) take names from here and never retype a
literal; docs/run-folder.md describes the same layout. A run folder of the demo holds one
sub-folder per stage (``curate/``, ``train/<set>/``, ``export/<variant>-<target>/``, ``bench/``,
``analysis/<name>/``, ``report/``); a stage run on its own writes the same files into its --out.
"""

from __future__ import annotations

# every stage
RUN = "run.json"  # resolved config, versions, git revision, hardware, times, status
LOCK = ".dta.lock"  # held (flock) by the one process writing into the folder; holds its PID
PROBLEMS = "problems.jsonl"  # the problems a stage worked on
RETRIED_SUFFIX = ".retried.jsonl"  # failed requests set aside when a rerun asks them again

# dta curate
CANDIDATES = "candidates.jsonl"  # Phase I: every teacher sample
EXEMPLARS = "exemplars.json"  # the student's own greedy answers shown to the rewriter
ALIGNED = "aligned.jsonl"  # Phase II rewriting, student NLL before and after
JUDGED = "judged.jsonl"  # reflection judge verdicts
SFT = "sft.jsonl"  # the DTA set
DISTILLED = "distilled.jsonl"  # the distilled-only control set
FUNNEL = "funnel.json"  # counts through every step

# dta train
ADAPTER = "adapter"  # LoRA adapter folder
FULL_MODEL = "model"  # full fine-tune output folder
CHECKPOINTS = "checkpoints"
LOSS = "loss.jsonl"
LOSS_PLOT = "loss.png"
TRAIN_SUMMARY = "train.json"

# dta export
MANIFEST = "manifest.json"
MERGED = "merged"  # base + adapter, merged (streamed) for the ONNX builder, which needs a folder
NATIVE_LOG = "native.log"  # what llama.cpp / ONNX Runtime printed from C during an export
EXPORTED_FOLDER = "model"  # hf exports: the converted model folder

# dta bench
RESULTS = "results.jsonl"  # one line per request
SUITE = "suite.yaml"  # the suite as run (`dta bench --suite <out>/suite.yaml` repeats it)
SUMMARY = "summary.json"  # one entry per system (dta score run writes its own summary.json)
REPORTED = "reported.json"  # figures quoted from papers, never measured

# dta score run, dta model check
SCORES = "scores.jsonl"
COMPLETIONS = "completions.jsonl"
CHECK = "check.json"

# dta analyze
TOKEN_SHIFT = "token_shift.json"
TOKEN_SHIFT_CLOUD = "token_shift_{model}.png"  # one word cloud per tuned model
DRIFT = "drift.json"
DRIFT_PLOT = "drift.png"
PAIRWISE = "pairwise.json"
PAIRWISE_PLOT = "pairwise.png"
PAIRWISE_VERDICTS = "pairwise_verdicts.jsonl"
LOSS_CURVES = "loss_curves.json"
LOSS_CURVES_PLOT = "loss_curves.png"

# dta report
REPORT_HTML = "report.html"
REPORT_MD = "report.md"
RESULTS_CSV = "results.csv"

# dta demo: one sub-folder per stage
DEMO_CURATE = "curate"
DEMO_TRAIN = "train"
DEMO_EXPORT = "export"
DEMO_BENCH = "bench"
DEMO_ANALYSIS = "analysis"
DEMO_REPORT = "report"
# dta demo: one sub-folder of analysis/ per analysis
ANALYSIS_LOSS = "loss"
ANALYSIS_TOKEN_SHIFT = "token-shift"
ANALYSIS_DRIFT = "drift"
ANALYSIS_PAIRWISE = "pairwise"
DEMO_TIMINGS = "timings.json"  # seconds per stage of the last demo run
DEMO_NATIVE_LOG = NATIVE_LOG  # what llama.cpp / ONNX Runtime printed from C during the demo


def retried_name(file_name: str) -> str:
    """``results.jsonl`` -> ``results.retried.jsonl``: where failed records go on a rerun."""
    stem = file_name.removesuffix(".jsonl")
    return stem + RETRIED_SUFFIX
