"""The text_similarity metrics: each from 0 to 1, 1 for identical texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from workhorse.evals.similarity import METRICS, Similarity
from workhorse.evals.wordnet import open_wordnet

REFERENCE = "The capital of France is Paris."


@pytest.fixture(scope="module")
def similarity(tmp_path_factory: pytest.TempPathFactory) -> Similarity:
    return Similarity(tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("metric", METRICS)
def test_identical_texts_score_highest_and_unrelated_ones_low(
    similarity: Similarity, metric: str
) -> None:
    same = similarity.score(metric, REFERENCE, REFERENCE)
    related = similarity.score(metric, "Paris is the capital of France.", REFERENCE)
    unrelated = similarity.score(metric, "Bananas grow in warm climates.", REFERENCE)
    assert 0.0 <= unrelated <= related <= same <= 1.0
    assert unrelated < same
    if metric != "meteor":  # METEOR's fragmentation penalty keeps it just below 1
        assert same == pytest.approx(1.0)


@pytest.mark.parametrize("metric", METRICS)
def test_an_empty_answer_scores_zero(similarity: Similarity, metric: str) -> None:
    assert similarity.score(metric, "", REFERENCE) == 0.0


def test_a_one_word_answer_that_is_the_reference_scores_one_by_bleu(
    similarity: Similarity,
) -> None:
    assert similarity.score("bleu", "Paris", "Paris") == pytest.approx(1.0)


def test_meteor_matches_synonyms_with_wordnet(tmp_path: Path, similarity: Similarity) -> None:
    if open_wordnet(tmp_path) is None:
        pytest.fail("WordNet (Debian's wordnet-base) is installed by scripts/install-services.sh")
    synonyms = similarity.score("meteor", "the fast dog runs", "the quick dog runs")
    plain = similarity.score("meteor", "the slow dog runs", "the quick dog runs")
    assert synonyms > plain
