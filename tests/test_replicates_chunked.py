"""Bootstrap replicates without dense (PSUs x R) or (n x R) matrices: the draws made in chunks
of replicates are those of one draw of all replicates (the seeded numbers of every run do not
move), the counts are kept in one byte each (widened when a count does not fit), and making,
recalibrating and using the replicates of a 200,000-respondent raked design allocates far less
than its rows x replicates weights."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

from analysis.config.params import DesignConfig
from analysis.errors import DesignError
from analysis.survey import calibrate as weighting
from analysis.survey import replicates
from analysis.survey.design import Stage, SurveyDesign, build_design
from analysis.survey.variance import pairs

R = 23  # odd, so that chunks of 2 and 7 leave a short last chunk


def make_frame(n_psu: tuple[int, ...], rows_per_psu: int = 2, seed: int = 5) -> pd.DataFrame:
    """Strata with ``n_psu`` PSUs each (``rows_per_psu`` respondents per PSU), a weight, an fpc
    (population PSUs: twice the sample, 3x in the last stratum) and a calibration variable."""
    rng = np.random.default_rng(seed)
    rows = []
    for h, m in enumerate(n_psu):
        for c in range(m):
            rows += [(f"h{h}", f"h{h}c{c}", (3 if h == len(n_psu) - 1 else 2) * m)] * rows_per_psu
    frame = pd.DataFrame(rows, columns=["h", "c", "N"])
    frame["w"] = rng.uniform(1, 3, len(frame))
    frame["g"] = rng.choice(["a", "b", "c"], len(frame))
    return frame


FRAME = make_frame((2, 3, 9, 40))


def one_shot_factors(
    stage: Stage, type: str, n_rep: int, seed: int, rescale_fpc: bool
) -> np.ndarray:
    """(n_psu, R) factors as the engine drew them before chunking: one (R, draws) draw per
    stratum, counted into a dense (R, m) float array."""
    rng = np.random.default_rng(seed)
    factors = np.ones((stage.n_units, n_rep))
    for h in range(stage.n_strata):
        psus = np.flatnonzero(stage.unit_stratum == h)
        m = psus.size
        frac = float(stage.stratum_fraction[h])

        def counts(draws: int, m: int = m) -> np.ndarray:
            picked = rng.integers(0, m, size=(n_rep, draws))
            hits = np.zeros((n_rep, m))
            np.add.at(hits, (np.arange(n_rep)[:, None], picked), 1.0)
            return hits

        if type == "subbootstrap":
            if m < 2:
                continue
            a = np.sqrt(np.clip(1.0 - frac, 0.0, 1.0)) if rescale_fpc else 1.0
            factors[psus] = (1.0 - a + a * m / (m - 1) * counts(m - 1)).T
        elif frac > 0:
            pop = int(np.floor(m / frac + 1e-9))
            colors = np.full(m, pop // m, dtype=np.int64)
            colors[rng.permutation(m)[: pop % m]] += 1
            factors[psus] = rng.multivariate_hypergeometric(colors, m, size=n_rep).T
        else:
            factors[psus] = counts(m).T
    return factors


@pytest.mark.parametrize(
    ("type", "fpc", "rescale_fpc"),
    [
        ("subbootstrap", None, False),
        ("subbootstrap", "N", True),
        ("bootstrap", None, False),
        ("bootstrap", "N", False),
    ],
)
@pytest.mark.parametrize("chunk", [1, 2, 7, R, None])
def test_chunked_draws_are_the_one_shot_draws(
    type: str, fpc: str | None, rescale_fpc: bool, chunk: int | None
) -> None:
    """Every chunk size, from one replicate at a time to all at once, gives the same factors,
    bit for bit, as one draw of all replicates; the counts are one byte each."""
    cfg = {"weight": "w", "strata": "h", "cluster": "c"} | ({"fpc": fpc} if fpc else {})
    stage = build_design(FRAME, DesignConfig(**cfg)).stages[0]
    rep = replicates._bootstrap(stage, type, R, 11, False, rescale_fpc, chunk)
    assert rep.bootstrap is not None and rep.bootstrap.counts.dtype == np.uint8
    want = one_shot_factors(stage, type, R, 11, rescale_fpc)
    np.testing.assert_array_equal(rep.factors(), want)
    some = np.array([5, 0, 17, 5])
    np.testing.assert_array_equal(rep.factors(some), want[some])


def test_default_chunks_split_a_large_stratum_and_keep_its_draws(monkeypatch) -> None:
    """With a chunk of at most 100 draws, a stratum of 40 PSUs is drawn two replicates at a
    time, and gives the draws of one piece."""
    stage = build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c")).stages[0]
    monkeypatch.setattr(replicates, "DRAW_CHUNK_CELLS", 100)
    rng = np.random.default_rng(0)
    sizes = [c.shape[0] for _s, c in replicates._draw_counts(rng, 40, 39, R)]
    assert sizes == [2] * 11 + [1]
    rep = replicates.replicate_weights(
        build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c")),
        "subbootstrap",
        R,
        seed=3,
    )
    np.testing.assert_array_equal(
        rep.factors(), one_shot_factors(stage, "subbootstrap", R, 3, False)
    )


def test_counts_that_do_not_fit_a_byte_widen_the_store() -> None:
    store = np.zeros((4, 3), dtype=np.uint8)
    store = replicates._store_counts(store, np.array([0, 2]), slice(0, 2), np.array([[1, 2]] * 2))
    assert store.dtype == np.uint8
    store = replicates._store_counts(store, np.array([1, 3]), slice(1, 3), np.array([[300, 4]] * 2))
    assert store.dtype == np.uint16
    np.testing.assert_array_equal(store, [[1, 1, 0], [0, 300, 300], [2, 2, 0], [0, 4, 4]])


def test_dropped_replicates_keep_the_counts_of_the_others() -> None:
    d = build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c"))
    rep = replicates.replicate_weights(d, "subbootstrap", R, seed=1)
    keep = np.array([0, 3, 22])
    np.testing.assert_array_equal(rep.bootstrap.select(keep).rows(), rep.factors()[:, keep])


def test_unit_level_totals_in_blocks_of_pairs_are_the_dense_products(monkeypatch) -> None:
    """The bootstrap's replicate totals of (PSU, level) totals, factors formed for blocks of
    pairs, equal the product with the dense factors."""
    d = build_design(FRAME, DesignConfig(weight="w", strata="h", cluster="c"))
    rep = replicates.replicate_weights(d, "bootstrap", R, seed=2)
    stage = d.stages[0]
    rng = np.random.default_rng(4)
    unit = np.repeat(np.arange(stage.n_units), 2)
    column = np.tile([0, 1], stage.n_units)
    pr = pairs(stage, unit, column, 2)
    totals = rng.normal(size=(3, pr.size))
    f = rep.factors()
    want = np.stack([totals[:, column == k] @ f[unit[column == k]] for k in (0, 1)], axis=1)
    monkeypatch.setattr(replicates, "REPLICATE_BLOCK_CELLS", 5 * R)  # blocks of 5 pairs
    got = replicates.unit_level_totals(rep, stage, pr, totals)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def big_raked_design(n: int) -> tuple[SurveyDesign, pd.DataFrame]:
    """``n`` respondents, each its own PSU, in 4 strata, raked to margins of two variables."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(
        {
            "h": rng.choice(["h0", "h1", "h2", "h3"], n),
            "g": rng.choice(["a", "b", "c"], n),
            "w": rng.uniform(1, 3, n),
        }
    )
    d = build_design(frame, DesignConfig(weight="w", strata="h"))
    margins = pd.DataFrame(
        {
            "variable": ["g"] * 3 + ["h"] * 4,
            "level": ["a", "b", "c", "h0", "h1", "h2", "h3"],
            "count": [0.3 * n, 0.3 * n, 0.4 * n] + [0.25 * n] * 4,
        }
    )
    return weighting.calibrate(d, frame, margins, method="rake"), frame


def test_raked_bootstrap_of_200k_respondents_allocates_no_rows_x_replicates() -> None:
    """The drivers' replicates of a 200,000-respondent raked design (500, each respondent its
    own PSU): drawing, recalibrating on cell totals, the degrees of freedom and a pass over the
    replicate weights by blocks peak far below the 800 MB of the rows x replicates weights (the
    one-byte counts are 100 MB)."""
    n, n_rep = 200_000, 500
    d, frame = big_raked_design(n)
    recal = replicates.raking_recalibrator(d, frame)
    tracemalloc.start()
    try:
        rep = replicates.replicate_weights(
            d, "subbootstrap", n_rep, seed=1, rescale_fpc=True, recalibrate=recal
        )
        total = np.zeros(n_rep)
        for _rows, w in rep.row_blocks(d):
            total += w.sum(axis=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rep.n_replicates == n_rep and rep.degf == n_rep - 1
    np.testing.assert_allclose(total, d.weights.sum(), rtol=1e-8)  # every replicate raked
    assert peak < n * n_rep * 8 / 3, f"peak {peak / 2**20:.0f} MB"


def test_a_recalibrated_jackknife_too_large_is_refused_before_any_work(monkeypatch) -> None:
    """JKn with respondents as PSUs has n replicates: n x n weights. Refused at once (its
    degrees of freedom would need them), not after computing the (n, cells) totals."""
    d, frame = big_raked_design(2_000)
    recal = replicates.raking_recalibrator(d, frame)

    def no_totals(*_args: object) -> None:
        raise AssertionError("cell totals computed for a refused jackknife")

    monkeypatch.setattr(replicates, "_cell_totals", no_totals)
    monkeypatch.setattr(replicates, "MAX_REPLICATE_CELLS", 1_000_000)  # < 2000 x 2000
    with pytest.raises(DesignError, match=r"2000 JKn replicates .* too many.*replicate_method"):
        replicates.replicate_weights(d, "JKn", recalibrate=recal)
