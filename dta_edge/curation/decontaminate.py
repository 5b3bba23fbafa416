"""Decontamination: no training problem or solution carries a question the students are benched on.

Every problem (before Phase I asks a teacher) and every solution that could enter a set (at
selection) is held against the bench questions a recipe names, cheapest check first:

- ``exact``: the same text;
- ``normalised``: the same words after NFKC, lower case, punctuation dropped and every number
  written one way (``5.000e-04`` = ``0.0005``);
- ``ngram``: a run of ``ngram`` (13) normalised words shared with a bench question (a question
  shorter than that appearing whole) that holds one of its numbers, in an item that holds every
  number of the question: a template's wording around one shared number is what siblings of a
  generated problem share (on the demo tier that alone would flag 922 of 939 training
  problems; with the numbers rule, 89, each carrying a bench question's whole data);
- ``near-duplicate``: MinHash (rensa, LSH over word sets) proposes bench questions, kept when
  the Jaccard of the two word sets (computed exactly) reaches the threshold and the item holds
  every number of the bench question: a paraphrase keeps the numbers and moves the words, a
  sibling drawn from the same template keeps the words and changes the numbers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dta_edge.curation.recipe import DecontaminationSpec
from dta_edge.records import ContaminationExample, DecontaminationCounts, Problem

Method = Literal["exact", "normalised", "ngram", "near-duplicate"]
METHODS: tuple[Method, ...] = ("exact", "normalised", "ngram", "near-duplicate")
NUM_PERM = 128
NUM_BANDS = 64  # 2 rows a band: a pair at Jaccard 0.5 is proposed with probability ~1
EXAMPLES = 10
EXCERPT = 240
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*(?:e[-+]?\d+)?|[^\W\d_]+")


def _number(token: str) -> str:
    """One spelling per value: 5.000e-04 and 0.0005 alike; thousands commas dropped."""
    try:
        value = float(token.replace(",", ""))
    except ValueError:
        return token
    return repr(value) if math.isfinite(value) else token


def words(text: str) -> tuple[str, ...]:
    """Normalised words: NFKC, lower case, letters and numbers only, numbers in one spelling."""
    flat = unicodedata.normalize("NFKC", text).lower()
    return tuple(_number(token) if token[0].isdigit() else token for token in _TOKEN.findall(flat))


def _is_number(word: str) -> bool:
    return word[0].isdigit()


_STOP = frozenset({"a", "an", "the", "of", "at", "in", "on", "to", "and", "or", "is", "are",
                   "with", "by", "for", "per", "its", "it", "as", "be"})  # fmt: skip


@dataclass(frozen=True)
class Slot:
    """A number and the words around it (stop words and other numbers skipped)."""

    value: str
    before: str | None
    after: str | None


def anchored_numbers(seq: Sequence[str]) -> list[Slot]:
    """Each number in its slot: ``packet 32 kbit``, ``delay 6 ms``.

    A number is its unit and role more than its value: "2 per millisecond ... in 3 milliseconds"
    and "3 per millisecond ... in 2 milliseconds" hold the same values in other roles, while a
    paraphrase moves the clauses and keeps "6 ms" together.
    """
    content = [w for w in seq if w not in _STOP]
    slots = []
    for i, word in enumerate(content):
        if _is_number(word):
            before = next((w for w in reversed(content[:i]) if not _is_number(w)), None)
            after = next((w for w in content[i + 1 :] if not _is_number(w)), None)
            slots.append(Slot(word, before, after))
    return slots


def holds_numbers(needed: Sequence[Slot], item: Sequence[Slot]) -> bool:
    """Whether each of a question's numbers is in the item once, beside one of its words."""
    used = [False] * len(item)
    for slot in needed:
        for j, other in enumerate(item):
            if (
                not used[j]
                and other.value == slot.value
                and (other.before == slot.before or other.after == slot.after)
            ):
                used[j] = True
                break
        else:
            return False
    return True


def fills_differently(needed: Sequence[Slot], item: Sequence[Slot]) -> bool:
    """Whether the item puts other numbers where the question has one (a sibling's mark).

    A slot is the words on both sides: "SNR of 17.1 dB" against "SNR of 19.6 dB". Where the
    item fills a slot of the question and never with the question's value there, it is the
    same template with other data, however much wording or constant data (a shared table) the
    two also share.
    """
    filled: dict[tuple[str | None, str | None], set[str]] = {}
    for slot in item:
        filled.setdefault((slot.before, slot.after), set()).add(slot.value)
    for slot in needed:
        if slot.before is None or slot.after is None:
            continue
        values = filled.get((slot.before, slot.after))
        if values and slot.value not in values:
            return True
    return False


def shared_stretch(
    item: Sequence[str], i: int, question: Sequence[str], j: int, n: int
) -> tuple[int, int] | None:
    """The question's span around a shared run (``item[i:i+n]`` = ``question[j:j+n]``).

    The run is widened both ways for as long as the two texts agree with their numbers masked.
    None where a number differs inside that stretch: the same template with other data, as
    "propagation delay is 9 ms" where the question says 6 ms. A copy either goes on with the
    question's numbers or leaves its wording.
    """
    span = [j, j + n]
    for side, step, x, y in ((0, -1, i - 1, j - 1), (1, 1, i + n, j + n)):
        while 0 <= x < len(item) and 0 <= y < len(question):
            a, b = item[x], question[y]
            if _is_number(a) and _is_number(b):
                if a != b:
                    return None
            elif a != b:
                break  # the texts part: the run ends here
            x, y = x + step, y + step
        span[side] = y + 1 if step < 0 else y
    return span[0], span[1]


@dataclass(frozen=True)
class Match:
    """Why an item is contaminated: the check that caught it and the bench question it holds."""

    method: Method
    bench_id: str
    bench_question: str


class _BenchQuestion:
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.words = words(problem.question)
        self.word_set = frozenset(self.words)
        self.numbers = anchored_numbers(self.words)


class BenchIndex:
    """The bench questions, indexed for the four checks; ``match`` says whether a text leaks one."""

    def __init__(self, bench: Sequence[Problem], spec: DecontaminationSpec) -> None:
        from rensa import RMinHashLSH

        self.spec = spec
        self.size = len(bench)
        self._exact: dict[str, int] = {}
        self._normalised: dict[tuple[str, ...], int] = {}
        self._grams: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        self._questions = [_BenchQuestion(problem) for problem in bench]
        self._lsh = RMinHashLSH(
            threshold=spec.near_duplicate, num_perm=NUM_PERM, num_bands=NUM_BANDS
        )
        for key, question in enumerate(self._questions):
            self._exact.setdefault(question.problem.question.strip(), key)
            self._normalised.setdefault(question.words, key)
            for start, gram in self._bench_grams(question):
                self._grams.setdefault(gram, []).append((key, start))
            if question.word_set:
                self._lsh.insert(key, self._signature(question.word_set))
        self._gram_lengths = sorted({len(gram) for gram in self._grams})

    def _bench_grams(self, question: _BenchQuestion) -> Iterable[tuple[int, tuple[str, ...]]]:
        n, seq = self.spec.ngram, question.words
        if len(seq) <= n:
            yield 0, seq  # a short question must appear whole
            return
        for start in range(len(seq) - n + 1):
            gram = seq[start : start + n]
            if not question.numbers or any(_is_number(w) for w in gram):
                yield start, gram

    @staticmethod
    def _signature(word_set: frozenset[str]):
        from rensa import RMinHash

        signature = RMinHash(num_perm=NUM_PERM, seed=42)
        signature.update(sorted(word_set))
        return signature

    def _found(self, method: Method, key: int) -> Match:
        problem = self._questions[key].problem
        return Match(method=method, bench_id=problem.id, bench_question=problem.question)

    def match(self, text: str) -> Match | None:
        """The first check that finds a bench question in ``text``; None when it is clean."""
        if not self._questions:
            return None
        key = self._exact.get(text.strip())
        if key is not None:
            return self._found("exact", key)
        seq = words(text)
        key = self._normalised.get(seq)
        if key is not None:
            return self._found("normalised", key)
        numbers = anchored_numbers(seq)
        for n in self._gram_lengths:
            for start in range(len(seq) - n + 1):
                for key, at in self._grams.get(seq[start : start + n], ()):
                    if self._copies(seq, start, key, at, n, numbers):
                        return self._found("ngram", key)
        return self._near_duplicate(seq, numbers)

    def _copies(self, seq, start: int, key: int, at: int, n: int, numbers) -> bool:
        """Whether a shared run copies the question: no slot filled differently, its data carried.

        No number of the question's slots differs, around the run or anywhere in the item.
        Carrying the data: the run (widened) holds more than half of the question's numbers,
        or the item holds every one of them beside the same words. A template's tail with one
        shared number ("... 4 dBi of gain. What is the EIRP in dBm?") is neither.
        """
        question = self._questions[key]
        span = shared_stretch(seq, start, question.words, at, n)
        if span is None or fills_differently(question.numbers, numbers):
            return False
        inside = sum(_is_number(w) for w in question.words[span[0] : span[1]])
        return 2 * inside > len(question.numbers) or holds_numbers(question.numbers, numbers)

    def _near_duplicate(self, seq: tuple[str, ...], numbers: list[Slot]) -> Match | None:
        word_set = frozenset(seq)
        if not word_set:
            return None
        best: tuple[float, int] | None = None
        for key in self._lsh.query(self._signature(word_set)):
            question = self._questions[key]
            if not holds_numbers(question.numbers, numbers):
                continue
            jaccard = len(word_set & question.word_set) / len(word_set | question.word_set)
            if jaccard >= self.spec.near_duplicate and (best is None or jaccard > best[0]):
                best = (jaccard, key)
        return None if best is None else self._found("near-duplicate", best[1])


class Ledger:
    """Counts and a few examples of what the checks caught, for funnel.json."""

    def __init__(self, index: BenchIndex) -> None:
        self.index = index
        self.checked: Counter = Counter()
        self.caught: Counter = Counter()
        self.by_method: Counter = Counter()
        self.examples: list[ContaminationExample] = []

    def contaminated(self, kind: Literal["problem", "solution"], item_id: str, text: str) -> bool:
        """Check one item; count it, and keep it as an example while there are few."""
        self.checked[kind] += 1
        found = self.index.match(text)
        if found is None:
            return False
        self.caught[kind] += 1
        self.by_method[found.method] += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(ContaminationExample(
                kind=kind, id=item_id, method=found.method, bench_id=found.bench_id,
                text=text[:EXCERPT], bench_question=found.bench_question[:EXCERPT],
            ))  # fmt: skip
        return True

    def counts(self) -> DecontaminationCounts:
        """What funnel.json says of the check."""
        return DecontaminationCounts(
            bench_questions=self.index.size, dropped=self.index.spec.drop,
            problems_checked=self.checked["problem"], problems_caught=self.caught["problem"],
            solutions_checked=self.checked["solution"], solutions_caught=self.caught["solution"],
            by_method={method: self.by_method[method] for method in METHODS},
            examples=tuple(self.examples),
        )  # fmt: skip


def bench_questions(spec: DecontaminationSpec, config_path: Path) -> list[Problem]:
    """Every problem of every source the spec names (files relative to ``config_path``)."""
    from dta_edge.tasks.sources import load_problem_source

    return [p for source in spec.against for p in load_problem_source(source, None, config_path)]


def clean_problems(problems: Sequence[Problem], ledger: Ledger) -> list[Problem]:
    """The problems no check catches (all of them, counted, where the spec only flags)."""
    kept = []
    for problem in problems:
        caught = ledger.contaminated("problem", problem.id, problem.question)
        if not caught or not ledger.index.spec.drop:
            kept.append(problem)
    return kept
