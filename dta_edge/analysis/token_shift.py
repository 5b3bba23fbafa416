"""Token shift: which words of reference solutions did fine-tuning make more likely?

The paper's claim is that DTA gains on reasoning scaffolds ("therefore", "substituting", "hence")
more than on domain nouns. We measure it directly: every reference solution is scored under the
base and each tuned model with teacher forcing (the user turn rendered with the chat template,
thinking off, as SFT trains on it); each solution token's log-probability change is credited to
the word its first character falls in; words are classed by a lexicon, and each class's share of
the total gain is reported beside the top gainers and losers and a word cloud sized by gain.
Between every two tuned models each class's share is compared with a bootstrap over solutions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from dta_edge.analysis.inputs import (
    LoadedModel,
    Pair,
    same_tokenizer,
)
from dta_edge.config import FrozenModel
from dta_edge.layout import TOKEN_SHIFT, TOKEN_SHIFT_CLOUD
from dta_edge.models.chat import ChatTemplate, student_prompt
from dta_edge.runs import recorded
from dta_edge.safe_paths import inside
from dta_edge.storage import atomic_write_json

# LaTeX commands, words (with inner apostrophes/hyphens), numbers, then any other single symbol.
WORD = re.compile(r"\\[A-Za-z]+|[A-Za-z]+(?:['’-][A-Za-z]+)*|\d+(?:[.,]\d+)*|\S")
WHITESPACE = "⏎"  # tokens that are only whitespace (newlines, indentation) count under this word
Progress = Callable[[str, int, int], None]


class Lexicon(FrozenModel):
    """Word classes for the gain shares (a YAML file of kind 'lexicon').

    A word is looked up in ``classes`` (lower-case lists, first match wins), then matched against
    ``patterns`` (regular expressions, in order); otherwise it falls in ``default``.
    """

    kind: Literal["lexicon"] = "lexicon"
    classes: dict[str, tuple[str, ...]] = Field(
        description="Class name -> words (lower case), e.g. logical markers, domain nouns."
    )
    patterns: dict[str, str] = Field(
        default_factory=dict, description="Class name -> regular expression over the word."
    )
    default: str = Field(default="other", description="Class of words matched by nothing.")

    def classify(self, word: str) -> str:
        """The class a word belongs to."""
        for name, words in self.classes.items():
            if word in words:
                return name
        for name, pattern in self.patterns.items():
            if re.fullmatch(pattern, word):
                return name
        return self.default


class WordShift(FrozenModel):
    """One word's log-probability change, summed over its tokens and occurrences."""

    word: str
    word_class: str
    occurrences: int
    tokens: int
    gain: float = Field(description="Sum of (tuned - base) log-probability, nats.")
    gain_per_occurrence: float


def word_of_each_token(text: str, offsets: Sequence[tuple[int, int]]) -> list[tuple[str, int]]:
    """(word, occurrence index) per token: the word holding its first non-space character.

    Tokens that are only whitespace get (WHITESPACE, -1); a word split over several tokens gives
    them all the same occurrence index, so occurrences are counted once.
    """
    owner = [-1] * len(text)
    words = []
    for index, match in enumerate(WORD.finditer(text)):
        token = match.group()
        words.append(token if token.startswith("\\") else token.lower())
        owner[match.start() : match.end()] = [index] * (match.end() - match.start())
    result = []
    for start, end in offsets:
        hit = next((owner[i] for i in range(start, min(end, len(text))) if owner[i] >= 0), -1)
        result.append((words[hit], hit) if hit >= 0 else (WHITESPACE, -1))
    return result


class TokenizedPair(FrozenModel):
    """A pair as token ids, with each solution token's character span in the solution."""

    prompt_ids: tuple[int, ...]
    solution_ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]
    solution: str


def tokenize_pairs(tokenizer, pairs: Sequence[Pair]) -> list[TokenizedPair]:
    """Prompt and solution tokenised apart, as SFT and the curation NLL do."""
    out = []
    origin = f"the chat template of {getattr(tokenizer, 'name_or_path', 'the base model')}"
    chat = ChatTemplate(tokenizer.chat_template, origin)
    for user, solution in pairs:
        prompt = tokenizer.encode(student_prompt(chat, user), add_special_tokens=False)
        encoded = tokenizer(solution, add_special_tokens=False, return_offsets_mapping=True)
        out.append(TokenizedPair(
            prompt_ids=tuple(prompt), solution_ids=tuple(encoded["input_ids"]),
            offsets=tuple(tuple(o) for o in encoded["offset_mapping"]), solution=solution,
        ))  # fmt: skip
    return out


def solution_logprobs(
    lm: LoadedModel, items: Sequence[TokenizedPair], batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
) -> list[np.ndarray]:  # fmt: skip
    """Log-probability of every solution token given everything before it (batched, padded)."""
    from dta_edge.models.teacher_forcing import target_logprobs

    pairs = [(item.prompt_ids, item.solution_ids) for item in items]
    pad = lm.tokenizer.pad_token_id or 0
    return target_logprobs(lm.model, lm.device, pairs, pad, batch_size, on_batch)


def word_shifts(
    items: Sequence[TokenizedPair],
    base: Sequence[np.ndarray],
    tuned: Sequence[np.ndarray],
    lexicon: Lexicon,
) -> list[WordShift]:
    """Per word: summed change over tokens and occurrences, sorted by gain (largest first)."""
    totals: dict[str, list[float]] = {}  # word -> [gain, tokens, occurrences]
    for item, before, after in zip(items, base, tuned, strict=True):
        seen: set[int] = set()
        owners = word_of_each_token(item.solution, item.offsets)
        for (word, occurrence), delta in zip(owners, after - before, strict=True):
            entry = totals.setdefault(word, [0.0, 0, 0])
            entry[0] += float(delta)
            entry[1] += 1
            entry[2] += int(occurrence < 0 or occurrence not in seen)
            seen.add(occurrence)
    shifts = [
        WordShift(word=word, word_class=lexicon.classify(word), occurrences=max(occ, 1),
                  tokens=tokens, gain=gain, gain_per_occurrence=gain / max(occ, 1))
        for word, (gain, tokens, occ) in totals.items()
    ]  # fmt: skip
    return sorted(shifts, key=lambda s: (-s.gain, s.word))


def class_shares(shifts: Sequence[WordShift], lexicon: Lexicon) -> list[dict]:
    """Each class's gain, its share of the net gain and of the positive gain, and per token.

    Positive gain (the sum over words that gained) is the base of the share the paper's claim is
    about: of what the model gained, how much went to logical markers vs domain nouns.
    """
    names = [*lexicon.classes, *lexicon.patterns, lexicon.default]
    net = sum(s.gain for s in shifts)
    positive = sum(s.gain for s in shifts if s.gain > 0)
    rows = []
    for name in dict.fromkeys(names):
        mine = [s for s in shifts if s.word_class == name]
        gain = sum(s.gain for s in mine)
        gained = sum(s.gain for s in mine if s.gain > 0)
        tokens = sum(s.tokens for s in mine)
        rows.append({
            "class": name, "words": len(mine), "tokens": tokens, "gain": gain,
            "gain_per_token": gain / tokens if tokens else None,
            "share_of_net_gain": gain / net if net else None,
            "positive_gain": gained,
            "share_of_positive_gain": gained / positive if positive else None,
        })  # fmt: skip
    return rows


def _solution_gains(
    items: Sequence[TokenizedPair], base: Sequence[np.ndarray], tuned: Sequence[np.ndarray]
) -> list[dict[str, float]]:
    """Per solution: word -> summed log-probability change of its tokens."""
    found = []
    for item, before, after in zip(items, base, tuned, strict=True):
        gains: dict[str, float] = {}
        owners = word_of_each_token(item.solution, item.offsets)
        for (word, _occurrence), delta in zip(owners, after - before, strict=True):
            gains[word] = gains.get(word, 0.0) + float(delta)
        found.append(gains)
    return found


def share_difference(
    per_solution: dict[str, list[dict[str, float]]],
    a: str,
    b: str,
    lexicon: Lexicon,
    word_class: str,
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """A's share of positive gain in ``word_class`` minus B's, with a bootstrap over solutions.

    Each resample draws solutions with replacement (the same draw for both models), sums every
    word's gain over them, and takes the class's share of what gained: the paper's claim is
    about that share, so its interval must come from the solutions it was measured on.
    """
    words = sorted({w for gains in (*per_solution[a], *per_solution[b]) for w in gains})
    in_class = np.array([lexicon.classify(w) == word_class for w in words])
    column = {w: i for i, w in enumerate(words)}

    def matrix(name: str) -> np.ndarray:
        table = np.zeros((len(per_solution[name]), len(words)))
        for row, gains in enumerate(per_solution[name]):
            for word, gain in gains.items():
                table[row, column[word]] = gain
        return table

    def shares(counts: np.ndarray, table: np.ndarray) -> np.ndarray:
        gained = np.clip(counts @ table, 0, None)  # per resample, per word
        total = gained.sum(axis=1)
        return np.divide(gained[:, in_class].sum(axis=1), total, out=np.zeros_like(total),
                         where=total > 0)  # fmt: skip

    table_a, table_b = matrix(a), matrix(b)
    n = table_a.shape[0]
    rng = np.random.default_rng(seed)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)])
    ones = np.ones((1, n))
    share_a, share_b = float(shares(ones, table_a)[0]), float(shares(ones, table_b)[0])
    draws = shares(counts, table_a) - shares(counts, table_b)
    low, high = np.quantile(draws, [0.025, 0.975])
    return {"a": a, "b": b, "class": word_class, "share_a": share_a, "share_b": share_b,
            "difference": share_a - share_b, "ci95": [float(low), float(high)],
            "solutions": n, "resamples": resamples}  # fmt: skip


def _word_cloud(shifts: Sequence[WordShift], path: Path) -> bool:
    """A PNG word cloud sized by gain (gainers only); False when nothing gained."""
    from wordcloud import WordCloud

    weights = {s.word: s.gain for s in shifts if s.gain > 0}
    if not weights:
        return False
    cloud = WordCloud(width=900, height=450, background_color="white", max_words=80,
                      prefer_horizontal=0.95, random_state=0, collocations=False)  # fmt: skip
    cloud.generate_from_frequencies(weights).to_file(str(path))
    return True


@recorded("analyze.token-shift")
def analyze_token_shift(
    base: LoadedModel,
    tuned: Sequence[LoadedModel],
    pairs: Sequence[Pair],
    lexicon: Lexicon,
    out_dir: Path,
    *,
    top: int = 25,
    batch_size: int = 8,
    on_progress: Progress | None = None,
) -> Path:
    """token_shift.json and one token_shift_<name>.png per tuned model; returns the JSON path."""
    same_tokenizer([base, *tuned])
    progress = on_progress or (lambda _name, _done, _total: None)
    items = tokenize_pairs(base.tokenizer, pairs)
    scored: dict[str, list[np.ndarray]] = {}
    for lm in (base, *tuned):
        done = 0

        def advance(n: int, name: str = lm.name) -> None:
            nonlocal done
            done += n
            progress(name, done, len(items))

        scored[lm.name] = solution_logprobs(lm, items, batch_size, advance)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_tokens = sum(len(i.solution_ids) for i in items)
    result: dict = {
        "base": base.name, "solutions": len(items), "solution_tokens": n_tokens,
        "lexicon": lexicon.model_dump(), "models": {},
    }  # fmt: skip
    base_mean = float(np.mean(np.concatenate(scored[base.name])))
    for lm in tuned:
        shifts = word_shifts(items, scored[base.name], scored[lm.name], lexicon)
        mean = float(np.mean(np.concatenate(scored[lm.name])))
        png = inside(
            out_dir, TOKEN_SHIFT_CLOUD.format(model=lm.name), source=f"model name {lm.name!r}"
        )
        drawn = _word_cloud(shifts, png)
        result["models"][lm.name] = {
            "mean_logprob_base": base_mean, "mean_logprob_tuned": mean,
            "mean_gain_per_token": mean - base_mean,
            "classes": class_shares(shifts, lexicon),
            "top_gainers": [s.model_dump() for s in shifts[:top]],
            "top_losers": [s.model_dump() for s in sorted(shifts, key=lambda s: s.gain)[:top]],
            "word_cloud": png.name if drawn else None,
        }  # fmt: skip
    per_solution = {lm.name: _solution_gains(items, scored[base.name], scored[lm.name])
                    for lm in tuned}  # fmt: skip
    result["comparisons"] = [
        share_difference(per_solution, a.name, b.name, lexicon, word_class)
        for i, a in enumerate(tuned) for b in tuned[i + 1 :]
        for word_class in dict.fromkeys([*lexicon.classes, *lexicon.patterns, lexicon.default])
    ]  # fmt: skip
    path = out_dir / TOKEN_SHIFT
    atomic_write_json(path, result)
    return path
