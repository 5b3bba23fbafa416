"""Benchmark loaders on local files in every supported format, and their error messages."""

import csv
import json

import pytest

from dta_edge.errors import DataError
from dta_edge.records import Problem
from dta_edge.storage import read_jsonl
from dta_edge.tasks.loaders import PRESETS, FieldMap, load_problems, read_rows

from ..conftest import run_dta

TELEMATH_ROWS = [
    {
        "question": "A 5 MHz channel has SNR 20 dB. What is its Shannon capacity in Mbps?",
        "answer": 33.29,
        "category": "Information Theory",
        "tags": ["capacity", "shannon"],
        "difficulty": "basic",
    },
    {
        "question": "An M/M/1 queue has lambda = 8/s and mu = 10/s. Mean time in system (s)?",
        "answer": "0.5",
        "category": "Operations Research",
        "tags": "queueing; mm1",
        "difficulty": "Advanced",
    },
    {
        "question": "Blocking of 10 trunks at 4.46 Erlang?",
        "answer": "1.0e-2",
        "category": "Telecommunications Engineering",
        "tags": [],
        "difficulty": "basic",
    },
]


def write_format(tmp_path, fmt: str, rows=TELEMATH_ROWS):
    if fmt == "json":
        path = tmp_path / "telemath.json"
        path.write_text(json.dumps(rows))
    elif fmt == "jsonl":
        path = tmp_path / "telemath.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "csv":
        path = tmp_path / "telemath.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow(
                    {k: (",".join(v) if isinstance(v, list) else v) for k, v in row.items()}
                )
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "telemath.parquet"
        table = pa.table(
            {
                k: [str(r[k]) if k == "answer" else r[k] for r in rows]
                for k in ("question", "answer", "category", "difficulty")
            }
        )
        pq.write_table(table, path)
    else:  # a datasets folder saved with save_to_disk, as `datasets` users keep TeleMath offline
        from datasets import Dataset, DatasetDict

        path = tmp_path / "telemath_ds"
        data = {
            k: [str(r[k]) if k == "answer" else r[k] for r in rows]
            for k in ("question", "answer", "category", "difficulty")
        }
        DatasetDict({"test": Dataset.from_dict(data)}).save_to_disk(str(path))
    return path


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "parquet", "datasets"])
def test_telemath_every_format(tmp_path, fmt):
    problems = load_problems(read_rows(write_format(tmp_path, fmt)), PRESETS["telemath"])
    assert [p.answer for p in problems] == [33.29, 0.5, 0.01]
    assert [p.difficulty for p in problems] == ["basic", "advanced", "basic"]
    assert problems[1].category == "Operations Research"
    assert all(p.source == "telemath" for p in problems)
    assert len({p.id for p in problems}) == 3


def test_telemath_tags_from_list_or_string(tmp_path):
    problems = load_problems(read_rows(write_format(tmp_path, "json")), PRESETS["telemath"])
    assert problems[0].tags == ("capacity", "shannon")
    assert problems[1].tags == ("queueing", "mm1")


def test_missing_field_names_the_record(tmp_path):
    rows = [TELEMATH_ROWS[0], {"question": "No answer here?", "category": "x"}]
    path = write_format(tmp_path, "jsonl", rows)
    with pytest.raises(DataError, match=r"telemath\.jsonl:2: field 'answer' is missing or empty"):
        load_problems(read_rows(path), PRESETS["telemath"])


def test_non_numeric_answer_names_the_record(tmp_path):
    rows = [TELEMATH_ROWS[0], TELEMATH_ROWS[1], {**TELEMATH_ROWS[2], "answer": "about a third"}]
    path = write_format(tmp_path, "json", rows)
    with pytest.raises(
        DataError, match=r"record 2: field 'answer' is not numeric: 'about a third'"
    ):
        load_problems(read_rows(path), PRESETS["telemath"])


def test_csv_error_names_the_line(tmp_path):
    rows = [TELEMATH_ROWS[0], {**TELEMATH_ROWS[1], "question": ""}]
    path = write_format(tmp_path, "csv", rows)
    with pytest.raises(DataError, match=r"telemath\.csv:3: field 'question'"):
        load_problems(read_rows(path), PRESETS["telemath"])


def test_duplicate_ids_and_bad_json(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({**TELEMATH_ROWS[0], "id": "x"})
        + "\n"
        + json.dumps({**TELEMATH_ROWS[1], "id": "x"})
        + "\n"
    )
    with pytest.raises(DataError, match="id 'x' already used at"):
        load_problems(read_rows(path), PRESETS["telemath"])
    path.write_text("{broken\n")
    with pytest.raises(DataError, match=r"d\.jsonl:1: not valid JSON"):
        load_problems(read_rows(path), PRESETS["telemath"])


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        list(read_rows(tmp_path / "absent.json"))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="unsupported file type"):
        list(read_rows(tmp_path / "x.txt"))


def test_gsm8k_preset(tmp_path):
    path = tmp_path / "gsm8k.jsonl"
    path.write_text(
        json.dumps(
            {
                "question": "Tom has 3 apples and buys 1,200 more. How many?",
                "answer": "3 + 1200 = 1203\n#### 1,203",
            }
        )
        + "\n"
    )
    (problem,) = load_problems(read_rows(path), PRESETS["gsm8k"])
    assert problem.answer == 1203 and problem.solution.startswith("3 + 1200")


def test_math_preset_keeps_symbolic_answers(tmp_path):
    path = tmp_path / "math.jsonl"
    rows = [
        {
            "problem": "Simplify 2/4.",
            "solution": "It is $\\boxed{\\frac{1}{2}}$.",
            "type": "Algebra",
            "level": "Level 1",
        },
        {
            "problem": "Find x.",
            "solution": "So $x = \\boxed{\\sqrt{2}}$.",
            "type": "Algebra",
            "level": "Level 2",
        },
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    problems = load_problems(read_rows(path), PRESETS["math"])
    assert problems[0].answer == 0.5 and problems[0].answer_text == "\\frac{1}{2}"
    assert problems[1].answer is None and problems[1].answer_text == "\\sqrt{2}"
    assert problems[0].category == "Algebra"


def test_custom_field_map(tmp_path):
    path = tmp_path / "own.jsonl"
    path.write_text(json.dumps({"prompt": "2+2?", "target": "4", "uid": "q1"}) + "\n")
    fields = FieldMap(source="own", question="prompt", answer="target", id="uid")
    (problem,) = load_problems(read_rows(path), fields)
    assert (problem.id, problem.answer, problem.question) == ("q1", 4.0, "2+2?")


def test_cli_load_with_map_and_errors(tmp_path):
    src = tmp_path / "own.jsonl"
    src.write_text(json.dumps({"prompt": "2+2?", "target": "4"}) + "\n")
    out = tmp_path / "problems.jsonl"
    ok = run_dta(
        "problems",
        "load",
        str(src),
        "--map",
        "question=prompt",
        "--map",
        "answer=target",
        "--map",
        "source=own",
        "--out",
        str(out),
    )
    assert ok.returncode == 0, ok.stderr
    assert read_jsonl(out, Problem)[0].answer == 4.0
    bad = run_dta("problems", "load", str(src), "--out", str(out))  # telemath fields are absent
    assert bad.returncode == 2 and "own.jsonl:1: field 'question' is missing" in bad.stderr
    assert read_jsonl(out, Problem)[0].answer == 4.0  # the earlier output is untouched
