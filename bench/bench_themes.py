"""Benchmark: coding 100k open comments to 8 themes (word stems, case and accents ignored).

Outside-In: :func:`analysis.intake.comments.code_themes`, one RE2 pattern per theme matched over
all comments at once by pyarrow's compute kernels (accents folded by NFKD normalisation first).
Peer, measured in the same run on the same comments: a plain Python loop, per comment, folding
its accents (``unicodedata.normalize``) and lower-casing it, then ``re.search`` of each theme's
compiled pattern (the same word-start rule). The two must code every comment the same, or the run
fails. Times are the best of ``--reps`` repetitions (wall clock; CPU time beside it).

Prints a table and, last, ``speedup vs a Python re.search loop at <N>: <R>x``.

    .venv/bin/python bench/bench_themes.py [--comments 100000] [--reps 3]
"""

from __future__ import annotations

import argparse
import re
import time
import unicodedata

import numpy as np
import pandas as pd

from analysis.config.params import Theme
from analysis.intake import comments

THEMES = {
    "Billing": ["bill", "invoice", "charg", "factur"],
    "Staff": ["staff", "rude", "helpful", "polite"],
    "Waiting": ["wait", "queue", "slow", "delay"],
    "App": ["app", "login", "online", "password"],
    "Branch": ["branch", "counter", "opening"],
    "Fees": ["fee", "cost", "expensiv", "price"],
    "Network": ["signal", "coverage", "outage", "network"],
    "Thanks": ["thank", "great", "excellent"],
}
WORDS = [
    "bill", "billing", "Billed", "invoice", "charged", "facturé", "staff", "Rude", "helpful",
    "polite", "waited", "queue", "slowly", "delayed", "app", "login", "online", "password",
    "branch", "counter", "opening", "fees", "costly", "expensive", "prices", "signal", "coverage",
    "outage", "network", "thanks", "great", "excellent", "rebill", "the", "was", "and", "my",
    "very", "again", "never", "today", "service", "café", "naïve", "month", "phone", "call",
]  # fmt: skip


def make_comments(n: int, seed: int = 1) -> pd.Series:
    """``n`` comments of 3-25 words drawn from :data:`WORDS`; about 10% missing or empty."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 26, n)
    words = np.asarray(WORDS, dtype=object)[rng.integers(0, len(WORDS), lengths.sum())]
    cuts = np.cumsum(lengths)[:-1]
    texts = [" ".join(w) + "." for w in np.split(words, cuts)]
    out = pd.Series(texts, dtype=object)
    out[rng.random(n) < 0.05] = None
    out[rng.random(n) < 0.05] = ""
    return out


def ours(texts: pd.Series) -> np.ndarray:
    themes = {name: Theme(words=words) for name, words in THEMES.items()}
    return comments.code_themes(texts, themes).to_numpy()


def peer(texts: pd.Series) -> np.ndarray:
    patterns = [
        re.compile(r"(?<![\w])(?:" + "|".join(map(re.escape, words)) + ")")
        for words in THEMES.values()
    ]
    out = np.zeros((len(texts), len(patterns)), dtype=bool)
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            continue
        folded = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        ).lower()
        for j, pattern in enumerate(patterns):
            out[i, j] = pattern.search(folded) is not None
    return out


def best(fn, texts: pd.Series, reps: int) -> tuple[float, float, np.ndarray]:
    wall, cpu, result = [], [], None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(texts)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    texts = make_comments(args.comments)
    ours(texts.head(100))  # warm up (imports, pattern compilation of pyarrow)
    ours_wall, ours_cpu, got = best(ours, texts, args.reps)
    peer_wall, peer_cpu, want = best(peer, texts, args.reps)
    if not np.array_equal(got, want):
        rows = np.flatnonzero((got != want).any(axis=1))
        raise SystemExit(f"the two codings differ on {len(rows)} comments, e.g. {texts[rows[0]]!r}")
    print(f"{'tool':<34} {'wall s':>8} {'cpu s':>8} {'comments/s':>12}")
    for name, wall, cpu in (
        ("Outside-In code_themes (pyarrow)", ours_wall, ours_cpu),
        ("peer: Python loop of re.search", peer_wall, peer_cpu),
    ):
        print(f"{name:<34} {wall:>8.3f} {cpu:>8.3f} {args.comments / wall:>12,.0f}")
    print(f"themes raised per comment: {got.sum(axis=1).mean():.2f} (same in both)")
    print(f"speedup vs a Python re.search loop at {args.comments}: {peer_wall / ours_wall:.1f}x")


if __name__ == "__main__":
    main()
