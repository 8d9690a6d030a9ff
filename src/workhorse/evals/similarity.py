"""The ``text_similarity`` grader's metrics, each a score from 0 to 1.

- ``fuzzy_match``: rapidfuzz's normalised Indel similarity (``fuzz.ratio`` / 100), the
  ratio ``difflib`` and OpenAI's own evals use, on the two texts as they are.
- ``bleu``: NLTK's sentence BLEU (up to 4-grams, uniform weights, fewer for texts of
  fewer words) with Chen and Cherry's smoothing method 1, so a short answer missing a
  4-gram is not scored 0.
- ``gleu``: NLTK's sentence GLEU (Google's, 1- to 4-grams).
- ``meteor``: NLTK's METEOR (exact, stem and WordNet synonym matches; see ``wordnet``).
- ``rouge_1`` … ``rouge_5``, ``rouge_l``: the F-measure of Google's ``rouge-score`` (the
  reference implementation of ROUGE-1.5.5), with Porter stemming.

BLEU, GLEU and METEOR see lower-cased words and punctuation as tokens (the same
tokenizer as rouge-score's, without its stemming).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

from workhorse.evals.wordnet import open_wordnet

METRICS = (
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


class _NoSynonyms:
    """A WordNet that knows no word: METEOR then matches words and stems."""

    def synsets(self, *_: Any, **__: Any) -> list[Any]:
        return []


class Similarity:
    """Scores texts by the metrics above; loads what a metric needs on first use."""

    def __init__(self, cache_dir: Path) -> None:
        self._cache_dir = cache_dir
        self._synonyms: Any = None
        rouge = {f"rouge_{n}": f"rouge{n}" for n in range(1, 6)} | {"rouge_l": "rougeL"}
        self._metrics: dict[str, Callable[[str, str], float]] = {
            "fuzzy_match": _fuzzy_match,
            "bleu": _bleu,
            "gleu": _gleu,
            "meteor": self._meteor,
            **{metric: partial(_rouge, kind) for metric, kind in rouge.items()},
        }

    def score(self, metric: str, output: str, reference: str) -> float:
        """How similar ``output`` is to ``reference`` by ``metric``, from 0 to 1."""
        return max(0.0, min(1.0, float(self._metrics[metric](output, reference))))

    def _meteor(self, output: str, reference: str) -> float:
        from nltk.translate.meteor_score import meteor_score

        if self._synonyms is None:
            self._synonyms = open_wordnet(self._cache_dir) or _NoSynonyms()
        return float(meteor_score([_tokens(reference)], _tokens(output), wordnet=self._synonyms))


def _fuzzy_match(output: str, reference: str) -> float:
    from rapidfuzz import fuzz

    return float(fuzz.ratio(output, reference)) / 100


def _bleu(output: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hypothesis, expected = _tokens(output), _tokens(reference)
    # Up to 4-grams, fewer for texts shorter than that (a one-word answer that is the
    # reference scores 1, not the smoothed score of n-grams it cannot have).
    n = min(4, len(hypothesis), len(expected))
    if n == 0:
        return 0.0
    return float(
        sentence_bleu(
            [expected],
            hypothesis,
            weights=(1 / n,) * n,
            smoothing_function=SmoothingFunction().method1,
        )
    )


def _gleu(output: str, reference: str) -> float:
    from nltk.translate.gleu_score import sentence_gleu

    return float(sentence_gleu([_tokens(reference)], _tokens(output)))


def _rouge(kind: str, output: str, reference: str) -> float:
    return float(_rouge_scorer(kind).score(reference, output)[kind].fmeasure)


@cache
def _rouge_scorer(kind: str) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([kind], use_stemmer=True)
