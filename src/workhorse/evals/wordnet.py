"""WordNet for METEOR's synonym stage, read from Debian's ``wordnet-base`` files.

NLTK reads WordNet 3.0's database files, which Debian installs under
``/usr/share/wordnet``, but expects NLTK's own copy, which also holds ``lexnames`` (the
45 lexicographer file names of WordNet 3.0, fixed by the format) and lives on NLTK's
data path, whose readers refuse files reached through links, and maps itself onto that
copy for multilingual data (not needed here, so skipped). So on first use the files
are copied (28 MB) into a folder of the data dir beside a written ``lexnames``, and that
folder is put on NLTK's path. Without WordNet, METEOR matches
exact words and stems only.
"""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

log = logging.getLogger("workhorse.evals")

DEBIAN_WORDNET = Path("/usr/share/wordnet")

_LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]

_POS = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


def _lexnames() -> str:
    return "".join(
        f"{i:02d}\t{name}\t{_POS[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES)
    )


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)


def _place(target: Path, write: Callable[[Path], object]) -> None:
    """Write ``target`` whole or not at all (processes may race to write it)."""
    if target.exists():
        return
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    write(partial)
    os.replace(partial, target)


def open_wordnet(cache_dir: Path, source: Path = DEBIAN_WORDNET) -> Any | None:
    """NLTK's WordNet reader over ``source``, or None where WordNet is not installed."""
    if not (source / "data.noun").exists():
        return None
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    folder = cache_dir / "wordnet"
    folder.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_file():
            _place(folder / entry.name, partial(_copy, entry))
    _place(folder / "lexnames", lambda p: p.write_text(_lexnames()))
    if str(folder) not in nltk.data.path:
        nltk.data.path.append(str(folder))

    class _Reader(WordNetCorpusReader):  # type: ignore[misc]  # nltk is untyped
        """Without the mapping to NLTK's own WordNet copy (for multilingual data only)."""

        def map_wn(self, version: str = "wordnet") -> None:
            return None

    try:
        with warnings.catch_warnings():
            # It warns that it has no multilingual data (NLTK's Open Multilingual Wordnet).
            warnings.simplefilter("ignore", UserWarning)
            return _Reader(str(folder), None)
    except (OSError, LookupError) as exc:
        log.warning("WordNet could not be read; METEOR matches words and stems only", exc_info=exc)
        return None
