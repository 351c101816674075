"""Write a stand-in for the Kaggle arXiv snapshot (JSON lines, its fields), for tests and benchmarks.

The records are made up from a fixed word list with a seeded generator: every abstract is
different, about as long as a real one (120-220 words), and about a quarter are in cs.AI.
Nothing is downloaded. `python -m arxiv_tui.bench.snapshot_sample OUT.json --records 600000`.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

_WORDS = (  # a paragraph reads better than 120 quoted words
    "we propose a novel method for learning representations of graphs networks with attention "
    "models data training inference robust efficient scalable algorithm theory bound optimal "
    "convex stochastic gradient descent reinforcement agents policy reward planning search "
    "language vision images segmentation detection benchmark datasets experiments results show "
    "that our approach outperforms state of the art baselines on several tasks while reducing "
    "computation memory latency energy we prove convergence under mild assumptions and analyse "
    "complexity sample generalisation error kernel bayesian probabilistic causal structure "
    "symbolic reasoning logic programs verification synthesis compilers types semantics "
    "distributed systems control estimation signal coding channel capacity quantum evolutionary"
).split()
_CATEGORIES = (
    "cs.AI",
    "cs.LG",
    "cs.CV",
    "cs.CL",
    "cs.DS",
    "cs.IT",
    "cs.NE",
    "cs.SY",
    "math.ST",
    "stat.ML",
    "physics.optics",
    "q-bio.NC",
)


def _abstract(rng: random.Random, number: int) -> str:
    words = rng.choices(_WORDS, k=rng.randint(120, 220))
    sentences, start = [], 0
    while start < len(words):
        end = start + rng.randint(12, 28)
        sentences.append(" ".join(words[start:end]).capitalize() + ".")
        start = end
    # Wrapped at ~80 columns with a leading space, as the snapshot stores abstracts.
    text = f"Study {number}: " + " ".join(sentences)
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) > 78:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return "  " + "\n".join([*lines, line]) + "\n"


def record(rng: random.Random, number: int) -> dict:
    """One snapshot record (the fields the Kaggle file has)."""
    primary = "cs.AI" if rng.random() < 0.25 else rng.choice(_CATEGORIES[1:])
    categories = " ".join(dict.fromkeys([primary, *rng.sample(_CATEGORIES, rng.randint(0, 2))]))
    authors = [(rng.choice(_WORDS).title(), rng.choice(_WORDS)[0].upper(), "") for _ in range(rng.randint(1, 6))]
    return {
        "id": f"{2000 + number // 100000:04d}.{number % 100000:05d}",
        "submitter": authors[0][0],
        "authors": ", ".join(f"{first}. {last}" for last, first, _ in authors),
        "title": " ".join(rng.choices(_WORDS, k=8)).title(),
        "comments": f"{rng.randint(4, 40)} pages",
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": categories,
        "license": "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
        "abstract": _abstract(rng, number),
        "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}],
        "update_date": "2008-11-13",
        "authors_parsed": [list(a) for a in authors],
    }


def write_snapshot(path: Path, records: int, seed: int = 0) -> None:
    """`records` snapshot-format JSON lines at `path`."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record(rng, number)) + "\n" for number in range(records))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--records", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_snapshot(args.output, args.records, args.seed)


if __name__ == "__main__":
    main()
