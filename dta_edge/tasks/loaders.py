"""Load benchmark problems from files: TeleMath as released, and other math sets by field mapping.

Readers turn a file into (location, row) pairs; a :class:`FieldMap` turns rows into
:class:`~dta_edge.records.Problem` records. Every bad row is reported by file, row and field.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from dta_edge.config import FrozenModel
from dta_edge.errors import DataError
from dta_edge.records import Problem
from dta_edge.storage import MAX_JSON_DEPTH, iter_jsonl, nesting_depth, read_json, read_text_file
from dta_edge.tasks.answers import _last_boxed, parse_quantity

Row = dict[str, Any]


class FieldMap(FrozenModel):
    """How a data set's columns become problem fields (`dta problems load --config`)."""

    kind: Literal["field-map"] = "field-map"
    source: str = Field(description="Name written into each record's 'source'.")
    question: str = Field(description="Column holding the question text.")
    answer: str = Field(
        description="Column holding the answer (or the solution it is parsed from)."
    )
    answer_format: Literal["number", "gsm8k", "boxed", "text"] = Field(
        default="number",
        description="number: the column is numeric; gsm8k: after '####'; boxed: last \\boxed{} "
        "of the column; text: kept as written (symbolic, scored with math-verify).",
    )
    id: str | None = Field(default=None, description="Column with a unique id; else row number.")
    category: str | None = None
    difficulty: str | None = None
    tags: str | None = None
    unit: str | None = None
    solution: str | None = Field(default=None, description="Column with a reference solution.")
    require_numeric: bool = Field(
        default=True, description="Reject rows whose answer is not a number."
    )


PRESETS: dict[str, FieldMap] = {
    "telemath": FieldMap(
        source="telemath", question="question", answer="answer", category="category",
        difficulty="difficulty", tags="tags", id="id",
    ),
    "gsm8k": FieldMap(
        source="gsm8k", question="question", answer="answer", answer_format="gsm8k",
        solution="answer",
    ),
    "math": FieldMap(
        source="math", question="problem", answer="solution", answer_format="boxed",
        category="type", solution="solution", require_numeric=False,
    ),
    # OlympiadBench: final_answer and solution are lists (first answer; solutions joined)
    "olympiadbench": FieldMap(
        source="olympiadbench", question="question", answer="final_answer", answer_format="text",
        id="id", category="subfield", solution="solution", unit="unit", require_numeric=False,
    ),
}  # fmt: skip


def _rows_json(path: Path) -> Iterator[tuple[str, Row]]:
    data = read_json(path, expect=(dict, list))
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{path}: expected a list of records, or an object holding one list")
        data = lists[0]
    for index, row in enumerate(data):
        yield f"{path}: record {index}", row


def _rows_jsonl(path: Path) -> Iterator[tuple[str, Row]]:
    for number, line in enumerate(read_text_file(path).splitlines(), start=1):
        if not line.strip():
            continue
        if nesting_depth(line) > MAX_JSON_DEPTH:
            raise DataError(f"{path}:{number}: nested over {MAX_JSON_DEPTH} levels deep")
        try:
            yield f"{path}:{number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def _rows_csv(path: Path) -> Iterator[tuple[str, Row]]:
    text = read_text_file(path)
    for number, row in enumerate(csv.DictReader(io.StringIO(text, newline="")), start=2):
        yield f"{path}:{number}", dict(row)  # line 1 is the header


def _rows_table(table: Any, label: str) -> Iterator[tuple[str, Row]]:
    for index, row in enumerate(table.to_pylist()):
        yield f"{label}: row {index}", row


def _rows_parquet(path: Path) -> Iterator[tuple[str, Row]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow (pip install 'dta-edge[train]')"
        ) from None
    yield from _rows_table(pq.read_table(path), str(path))


def _rows_dataset_dir(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(str(path))
    if isinstance(data, DatasetDict):
        if split not in data:
            raise DataError(f"{path}: no split '{split}'; splits: {', '.join(data)}")
        data = data[split]
    for index, row in enumerate(data):
        yield f"{path}[{split}]: row {index}", dict(row)


def read_rows(path: Path, split: str = "test") -> Iterator[tuple[str, Row]]:
    """Rows of a JSON, JSONL, CSV or Parquet file, or of a `datasets` folder saved to disk."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        return _rows_dataset_dir(path, split)
    if not path.is_file():
        raise DataError(f"{path}: not a regular file (a FIFO or a device?); give a file")
    readers = {
        ".json": _rows_json,
        ".jsonl": _rows_jsonl,
        ".csv": _rows_csv,
        ".parquet": _rows_parquet,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(
            f"{path}: unsupported file type; use one of {', '.join(readers)} or a datasets folder"
        )
    return reader(path)


def read_hub_rows(name: str, split: str = "test") -> Iterator[tuple[str, Row]]:
    """Rows of a hub data set (for users with hub access; never used by tests or the demo)."""
    from datasets import load_dataset

    for index, row in enumerate(load_dataset(name, split=split)):
        yield f"{name}[{split}]: row {index}", dict(row)


_NOT_FINITE = frozenset({"nan", "inf", "infinity", "\\infty", "∞"})


def _flat(value: Any, first: bool) -> Any:
    """List-valued columns (OlympiadBench): the first item for answers, all joined otherwise."""
    if not isinstance(value, list):
        return value
    items = [str(v) for v in value if v is not None]
    if first:
        return items[0] if items else None
    return "\n\n".join(items) or None


def _field(row: Row, column: str, where: str, required: bool = True) -> Any:
    value = _flat(row.get(column), first=True)
    if required and (value is None or (isinstance(value, str) and not value.strip())):
        raise DataError(f"{where}: field '{column}' is missing or empty")
    return value


def _answer(raw: Any, fmt: str, where: str, column: str) -> str:
    text = str(raw).strip()
    if fmt == "text" and len(text) > 2 and text[0] == text[-1] == "$":
        text = text.strip("$").strip()  # "$3$" -> "3"
    if fmt == "gsm8k":
        if "####" not in text:
            raise DataError(f"{where}: field '{column}' has no '#### <answer>' line")
        return text.rsplit("####", 1)[1].strip().replace(",", "")
    if fmt == "boxed":
        boxed = _last_boxed(text)
        if boxed is None:
            raise DataError(f"{where}: field '{column}' has no \\boxed{{}} answer")
        return boxed
    return text


def row_to_problem(row: Row, where: str, index: int, fields: FieldMap) -> Problem:
    """Map one row to a problem, or raise DataError naming the row and the field."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected an object with fields, got {type(row).__name__}")
    question = str(_field(row, fields.question, where)).strip()
    answer_text = _answer(
        _field(row, fields.answer, where), fields.answer_format, where, fields.answer
    )
    if answer_text.strip().lstrip("+-").lower() in _NOT_FINITE:
        raise DataError(f"{where}: field '{fields.answer}' is {answer_text!r}, not a finite answer")
    quantity = parse_quantity(answer_text) if fields.answer_format != "text" else None
    numeric = quantity.value if quantity is not None else None
    if numeric is None and fields.require_numeric:
        raise DataError(f"{where}: field '{fields.answer}' is not numeric: {answer_text!r}")
    difficulty = row.get(fields.difficulty) if fields.difficulty else None
    difficulty = str(difficulty).lower() if difficulty is not None else None
    tags = row.get(fields.tags) if fields.tags else None
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.replace(";", ",").split(",") if t.strip()]
    record_id = row.get(fields.id) if fields.id else None
    return Problem(
        id=str(record_id) if record_id not in (None, "") else f"{fields.source}-{index:05d}",
        source=fields.source,
        category=str(row.get(fields.category) or "unknown") if fields.category else "unknown",
        difficulty=difficulty if difficulty in ("basic", "advanced") else None,
        question=question,
        answer=numeric,
        answer_text=answer_text,
        unit=(str(_flat(row[fields.unit], True)) if fields.unit and row.get(fields.unit) else None)
        or (quantity.unit if quantity is not None else None),
        solution=str(_flat(row[fields.solution], first=False))
        if fields.solution and _flat(row.get(fields.solution), first=False)
        else None,
        tags=tuple(str(t) for t in tags or ()),
    )


def read_problem_file(path: Path) -> list[Problem]:
    """A problems.jsonl as written by `dta problems`; a repeated id is an error naming both lines.

    Scores, votes and resume all key on the problem id, so two problems under one id would
    silently merge their samples.
    """
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, problem in enumerate(iter_jsonl(path, Problem), start=1):
        if problem.id in seen:
            raise DataError(
                f"{path}: problem id '{problem.id}' appears twice (record {seen[problem.id]} and "
                f"record {number}); ids must be unique"
            )
        seen[problem.id] = number
        problems.append(problem)
    if not problems:
        raise DataError(f"{path}: holds no problems")
    return problems


def load_problems(
    rows: Iterator[tuple[str, Row]], fields: FieldMap, source: str = "the data set"
) -> list[Problem]:
    """Map every row; duplicate ids are an error (resume relies on unique ids)."""
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for index, (where, row) in enumerate(rows):
        problem = row_to_problem(row, where, index, fields)
        if problem.id in seen:
            raise DataError(f"{where}: id '{problem.id}' already used at {seen[problem.id]}")
        seen[problem.id] = where
        problems.append(problem)
    if not problems:
        raise DataError(f"{source}: holds no records")
    return problems
