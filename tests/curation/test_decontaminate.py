"""Decontamination: planted copies and paraphrases of held-out questions are caught, clean kept."""

from __future__ import annotations

import json

import pytest

from dta_edge.config import load_config
from dta_edge.curation.decontaminate import BenchIndex, Ledger, clean_problems, words
from dta_edge.curation.recipe import CurationRecipe, DecontaminationSpec
from dta_edge.records import Problem
from dta_edge.shipped import resolve_file
from dta_edge.storage import write_jsonl
from dta_edge.tasks.generator import (
    DEMO_HELD_OUT,
    ProblemsConfig,
    demo_training_problems,
    generate_problems,
)

from ..conftest import run_dta

LONG = (
    "In an OFDM downlink, the base station allocates 48 subcarriers spaced 15 kHz apart to one "
    "user, each carrying 16-QAM symbols with a code rate of 3/4, and the cyclic prefix takes "
    "7% of every symbol. Ignoring pilots, what is the user's net bit rate in Mbit/s?"
)
HELD_OUT = [
    "A packet of 32 kbit is sent over a 4 Mbit/s link whose propagation delay is 6 ms. "
    "What is the total delay in ms?",
    "Two amplifiers with gains of 22 dB and 2 dB are connected in cascade. "
    "What is the total gain in dB?",
    "A transmitter outputs 15 dBm through a cable with 2 dB of loss into an antenna with 7 dBi "
    "of gain. What is the EIRP in dBm?",
    "Packets arrive as a Poisson process at 5 per millisecond. "
    "How many packets are expected in 7 milliseconds?",
    "A channel of 2 kHz supports a spectral efficiency of 6 bit/s/Hz. "
    "What is its capacity in kbit/s?",
    LONG,
]
# (planted item, index of the held-out question it leaks, the check expected to catch it)
PLANTED = [
    (HELD_OUT[0], 0, "exact"),
    ("a PACKET of 32 kbit is sent over a 4 Mbit/s link, whose propagation delay is 6.0 ms - "
     "what is the total delay in ms", 0, "normalised"),
    ("Consider the following exercise from our course. " + HELD_OUT[2] + " Show your work.", 2,
     "ngram"),
    ("A 48-subcarrier allocation: the base station allocates 48 subcarriers spaced 15 kHz apart "
     "to one user, each carrying 16-QAM symbols with a code rate of 3/4 and a 7% cyclic prefix. "
     "Find the net rate.", 5, "ngram"),
    ("Over a 4 Mbit/s link with a propagation delay of 6 ms, a 32 kbit packet is sent. "
     "Find the total delay in ms.", 0, "near-duplicate"),
    ("What is the total gain, in dB, of a cascade of two amplifiers whose gains are 22 dB and "
     "2 dB?", 1, "near-duplicate"),
    ("Into an antenna with 7 dBi of gain, a transmitter feeds 15 dBm through a cable that loses "
     "2 dB. Find the EIRP in dBm.", 2, "near-duplicate"),
    ("How many packets are expected in 7 milliseconds when packets arrive as a Poisson process "
     "at 5 per millisecond?", 3, "near-duplicate"),
    ("What capacity in kbit/s does a 2 kHz channel reach with a spectral efficiency of "
     "6 bit/s/Hz?", 4, "near-duplicate"),
]  # fmt: skip
# the same templates with other numbers, or the same numbers in other roles: not a leak
CLEAN = [
    "A packet of 32 kbit is sent over a 4 Mbit/s link whose propagation delay is 9 ms. "
    "What is the total delay in ms?",
    "Two amplifiers with gains of 21 dB and 2 dB are connected in cascade. "
    "What is the total gain in dB?",
    "Packets arrive as a Poisson process at 7 per millisecond. "
    "How many packets are expected in 5 milliseconds?",
    "A channel of 6 kHz supports a spectral efficiency of 2 bit/s/Hz. "
    "What is its capacity in kbit/s?",
    LONG.replace("48 subcarriers", "96 subcarriers"),
    "What is the wavelength in metres of a 2.4 GHz carrier?",
]


def _problem(i: int, question: str, prefix: str = "p") -> Problem:
    return Problem(id=f"{prefix}-{i}", source="test", category="t", question=question,
                   answer=1.0, answer_text="1")  # fmt: skip


def _masked(text: str) -> tuple[str, ...]:
    return tuple("#" if w[0].isdigit() else w for w in words(text))


@pytest.fixture(scope="module")
def index() -> BenchIndex:
    bench = [_problem(i, q, "bench") for i, q in enumerate(HELD_OUT)]
    return BenchIndex(bench, DecontaminationSpec())


@pytest.mark.parametrize(("text", "leaked", "method"), PLANTED)
def test_planted_copies_and_paraphrases_are_caught(index, text, leaked, method):
    found = index.match(text)
    assert found is not None, text
    assert (found.bench_id, found.method) == (f"bench-{leaked}", method)


@pytest.mark.parametrize("text", CLEAN)
def test_siblings_and_unrelated_questions_are_kept(index, text):
    assert index.match(text) is None


def test_a_solution_quoting_a_question_is_caught(index):
    solution = f"We are asked: {HELD_OUT[4]} Capacity = 2 kHz x 6 = 12 kbit/s. \\boxed{{12}}"
    assert index.match(solution).method == "ngram"
    assert index.match("Capacity = 2 kHz x 6 bit/s/Hz = 12 kbit/s. \\boxed{12}") is None


def test_numbers_are_normalised_to_one_spelling():
    assert words("BER of 5.000e-04, 1,000 users") == words("ber of 0.0005 1000 users")


def test_the_ledger_counts_and_drops_or_only_flags():
    bench = [_problem(i, q, "bench") for i, q in enumerate(HELD_OUT)]
    items = [_problem(i, text) for i, (text, _, _) in enumerate(PLANTED)]
    items += [_problem(100 + i, text) for i, text in enumerate(CLEAN)]
    ledger = Ledger(BenchIndex(bench, DecontaminationSpec()))
    kept = clean_problems(items, ledger)
    assert [p.question for p in kept] == CLEAN
    counts = ledger.counts()
    assert (counts.problems_checked, counts.problems_caught) == (len(items), len(PLANTED))
    assert counts.by_method == {"exact": 1, "normalised": 1, "ngram": 2, "near-duplicate": 5}
    assert counts.examples[0].bench_id == "bench-0" and counts.dropped
    flag_only = Ledger(BenchIndex(bench, DecontaminationSpec(drop=False)))
    assert len(clean_problems(items, flag_only)) == len(items)


def test_the_demo_recipe_checks_against_the_demo_held_out_set():
    recipe = load_config(resolve_file("curation/demo-tier.yaml", "curation"), CurationRecipe)
    (source,) = recipe.decontaminate.against
    assert source.generate == DEMO_HELD_OUT


def test_demo_tier_siblings_are_kept_and_held_out_data_dropped():
    """On the demo tier only problems that carry a held-out question's data are caught."""
    bench = list(generate_problems(DEMO_HELD_OUT))
    config = ProblemsConfig(n=1200, seed=21, tier="demo", advanced_fraction=0.5)
    training = list(demo_training_problems(config))
    ledger = Ledger(BenchIndex(bench, DecontaminationSpec()))
    kept = clean_problems(training, ledger)
    caught = len(training) - len(kept)
    assert 0 < caught < 0.15 * len(training)
    for problem in training:  # never caught for a sibling (the same words, other numbers)
        found = ledger.index.match(problem.question)
        if found is not None and _masked(found.bench_question) == _masked(problem.question):
            assert sorted(words(found.bench_question)) == sorted(words(problem.question))


@pytest.mark.slow
def test_curate_drops_contaminated_problems_and_says_so_in_the_funnel(tmp_path):
    training = list(generate_problems(ProblemsConfig(n=6, seed=5)))
    bench_file = tmp_path / "held-out.jsonl"
    write_jsonl(bench_file, [
        _problem(0, training[0].question, "bench"),
        _problem(1, f"From last year's exam: {training[3].question} Answer briefly.", "bench"),
    ])  # fmt: skip
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "kind: curation-recipe\nname: dc\nproblems: {generate: {n: 6, seed: 5}}\n"
        "student: {model: embedded:tiny, exemplars: 0}\n"
        "teachers: [{name: ref, kind: reference, k: 1}]\n"
        "rewriter: {kind: restyle}\njudge: {kind: rule}\n"
    )
    out = tmp_path / "run"
    result = run_dta("curate", "--recipe", str(recipe), "--decontaminate", str(bench_file),
                     "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "dropped 2 of 6 problems" in result.stdout
    check = json.loads((out / "funnel.json").read_text())["decontamination"]
    assert (check["problems_caught"], check["bench_questions"]) == (2, 2)
    assert check["by_method"]["exact"] == 1 and check["by_method"]["ngram"] == 1
    assert {e["id"] for e in check["examples"]} == {training[0].id, training[3].id}
    assert check["solutions_checked"] >= 4 and check["solutions_caught"] == 0
    candidates = [json.loads(line) for line in (out / "candidates.jsonl").open()]
    assert {c["problem_id"] for c in candidates} == {training[i].id for i in (1, 2, 4, 5)}
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["decontaminate"]["against"][0]["file"] == str(bench_file.resolve())


def test_the_report_funnel_shows_the_check():
    from dta_edge.report.render import funnel_rows

    from ..conftest import REPO

    funnel = json.loads((REPO / "tests/assets/report/curate/funnel.json").read_text())
    assert not any("bench question" in stage for stage, _ in funnel_rows(funnel))
    bench = [_problem(i, q, "bench") for i, q in enumerate(HELD_OUT)]
    ledger = Ledger(BenchIndex(bench, DecontaminationSpec()))
    clean_problems([_problem(0, HELD_OUT[1]), _problem(1, CLEAN[0])], ledger)
    funnel["decontamination"] = ledger.counts().model_dump(mode="json")
    rows = dict(funnel_rows(funnel))
    assert rows[f"problems checked against {len(HELD_OUT)} bench questions"] == 2
    assert rows["  dropped: they carry a bench question"] == 1
    assert rows["solutions dropped: they carry a bench question"] == 0
