"""A seeded demo client: Harbourline Telecom, a fictional telecom, and its customer survey.

:func:`generate_demo` simulates a finite customer base (the *population frame*, ~60,000 customers),
gives every customer latent 1-7 expectation and performance ratings on 20 SERVQUAL items plus a
0-10 overall satisfaction and likelihood to recommend, draws a disproportionate stratified sample
from it, lets invited customers respond or not, and writes what a research team would receive:

``responses.csv``
    One row per returned questionnaire: ``respondent_id, segment, region, stratum, base_weight``,
    the expectation columns ``e_<item>``, the performance columns ``p_<item>``, ``overall_sat``,
    ``recommend``, ``duration_sec``, ``comment``. Blank cells are item nonresponse (a blank
    ``comment``: the respondent wrote nothing).
``codebook.yaml``
    The codebook (DESIGN.md contract), loadable with :func:`analysis.config.params.load_codebook`.
``population.csv``
    Margins of the customer base: ``variable, level, count`` for ``segment`` and ``region`` (counts
    from the frame; each variable's counts add up to the frame size N).
``truth.csv``
    The finite-population truth, for tests: population means over *all* customers of the frame of
    the integer ratings every customer would give (no sampling, no nonresponse). Columns ``item,
    group, level, count, expectation, performance, gap, value``; see :func:`population_truth`.

and, when asked, ``params/demo.yaml`` (the RunConfig contract) pointing at those files.

The design, and what it is for
------------------------------
- Strata are the three customer segments, sampled very unequally: Consumer 4,000 invitations out of
  ~51,000 customers, Small business 2,000 of ~7,200, Enterprise 1,200 of ~1,800. ``base_weight`` is
  N_h / n_h with n_h the *invited* count (the inverse inclusion probability), ``stratum`` the code.
- Unit nonresponse is ``a(segment) * b(region)`` (consumers and the West respond least), so raking
  the base weights to the segment and region margins removes its bias; the base weights alone leave
  a small bias, and unweighted means are far off because Enterprise customers (whose shortfalls on
  responsiveness and reliability are much larger) are ~25% of respondents but 3% of customers.
- Item nonresponse (blank cells, a few percent, more for some items) is missing completely at
  random, so every truth in ``truth.csv`` is estimable from the respondents who answered.
- True key drivers of ``overall_sat`` are the performance ratings of rel_1, rel_3, res_1 (strong),
  res_2 (moderate) and emp_3 (weak); every other item only correlates with it through the customer's
  general satisfaction. ``recommend`` follows overall satisfaction with noise.
- ``duration_sec`` is the time taken; about 2% of respondents are speeders (under 150 s) and a few
  left the survey open for an hour. Their answers are genuine (drawn from the frame like everyone
  else's), so quality rules about them are for demonstration, not for bias.

Open comments (see :data:`THEMES`)
----------------------------------
About a third of respondents write a short comment (``comment``), drawn from its own random
stream after everything else (so every other column is as it would be without comments). A
customer raises a theme with a probability that rises as their performance ratings of the
theme's items fall (billing, waiting times, staff, the network, the app, faults and
repairs); a few write
something that raises no theme. A few comments carry a planted email address, phone number or
account number (:data:`PLANTED`), which the pipeline must redact before anything is stored or
shown. The codebook names the column (``comments: [comment]``) and the themes, with their word
stems and the items they speak to.

Invalid rows (deliberate; see :data:`INVALID_ROWS`)
---------------------------------------------------
Ten extra rows are inserted, each breaking exactly one rule a validator must catch. Their contents
are the genuine answers of *invited non-respondents*, so dropping them leaves exactly the valid
respondents and they never enter the truth (which is over the whole frame anyway):

1. ``out_of_scale``: ``p_res_1`` is ``9`` on the 1-7 scale.
2. ``not_a_number``: ``e_asr_2`` is the text ``n/a``.
3. ``recommend_out_of_range``: ``recommend`` is ``11`` on the 0-10 scale.
4. ``unknown_segment``: ``segment`` is ``Goverment`` (misspelt, and not a segment at all).
5. ``duplicate_id`` (two rows): two different questionnaires carry the same ``respondent_id``.
6. ``missing_weight``: ``base_weight`` is blank.
7. ``negative_weight``: ``base_weight`` is ``-12.5``.
8. ``non_integer``: ``p_rel_2`` is ``4.5``.
9. ``missing_id``: ``respondent_id`` is blank.

Which respondent ids and file lines they get depends on the seed; :attr:`DemoFiles.invalid` lists
them (the tests pin those of the default seed).

Determinism: the same seed gives byte-identical files (fixed float formats, deterministic order,
``\\n`` line ends, UTF-8). Each part of the simulation draws from its own child of
``numpy.random.SeedSequence(seed)``, so changing one part does not reshuffle the others.
"""

from __future__ import annotations

import csv
import io as _stdio
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis.files import atomic_path

DEFAULT_SEED = 2026
POPULATION_SIZE = 60_000
CLIENT = "demo"
TITLE = "Harbourline Telecom customer expectations 2026"
RECIPIENTS = ("cx-lead@harbourline.example",)
SCALE = (1, 7)
SCORE_SCALE = (0, 10)
ID_PREFIX = "HT-"

SEGMENTS = ("Consumer", "Small business", "Enterprise")
SEGMENT_SHARES = (0.85, 0.12, 0.03)
STRATA = ("CON", "SMB", "ENT")  # stratum code of each segment
INVITED = (4_000, 2_000, 1_200)  # invitations per stratum (SRS without replacement)
REGIONS = ("North", "South", "East", "West")
# Region shares within each segment (Enterprise head offices cluster in the North).
REGION_SHARES = (
    (0.30, 0.28, 0.24, 0.18),
    (0.36, 0.26, 0.22, 0.16),
    (0.55, 0.20, 0.17, 0.08),
)
# Response propensity = RESPONSE_SEGMENT[segment] * RESPONSE_REGION[region] (no interaction).
RESPONSE_SEGMENT = (0.20, 0.26, 0.34)
RESPONSE_REGION = (1.10, 1.00, 0.95, 0.75)
# Small business customers sit between Consumer and Enterprise: this share of Enterprise's shifts.
SMALL_BUSINESS_SHARE = 0.4

DIMENSIONS = {
    "tan": "Tangibles",
    "rel": "Reliability",
    "res": "Responsiveness",
    "asr": "Assurance",
    "emp": "Empathy",
}


@dataclass(frozen=True)
class ItemSpec:
    """One simulated item. Latent means on the 1-7 scale, for a Consumer.

    ``expectation``: mean latent expectation; ``gap``: latent performance minus expectation;
    ``enterprise_expectation`` / ``enterprise_gap``: Enterprise's shifts of both (Small business
    gets ``SMALL_BUSINESS_SHARE`` of them); ``missing``: probability that a respondent skips the
    item.
    """

    id: str
    label: str
    expectation: float
    gap: float
    enterprise_expectation: float = 0.0
    enterprise_gap: float = 0.0
    missing: float = 0.015

    @property
    def dimension(self) -> str:
        return DIMENSIONS[self.id.split("_")[0]]


ITEMS: tuple[ItemSpec, ...] = (
    ItemSpec("tan_1", "Modern, up-to-date network and equipment", 5.8, -0.3, 0.2, -0.2),
    ItemSpec("tan_2", "Shops are clean and welcoming", 5.3, 0.35, -0.4, 0.1),
    ItemSpec("tan_3", "The app and website are easy to use", 6.0, -0.05, 0.0, -0.2),
    ItemSpec("tan_4", "Bills and letters are clear and easy to understand", 6.1, -0.6, 0.2, -0.3),
    ItemSpec("rel_1", "Network coverage where I need it", 6.5, -0.8, 0.2, -0.4),
    ItemSpec("rel_2", "Bills are accurate", 6.6, -0.5, 0.2, -0.6, 0.02),
    ItemSpec("rel_3", "Services work as promised, without outages", 6.5, -0.7, 0.3, -0.8),
    ItemSpec(
        "rel_4", "Installations and repairs happen on the agreed date", 6.3, -0.6, 0.3, -0.9, 0.06
    ),
    ItemSpec("res_1", "Faults fixed at the first contact", 6.3, -1.1, 0.3, -1.1),
    ItemSpec("res_2", "Calls answered quickly", 6.1, -0.9, 0.3, -0.9),
    ItemSpec("res_3", "Quick replies to emails and chat messages", 5.9, -0.6, 0.3, -0.7),
    ItemSpec("res_4", "Staff are always willing to help", 6.0, -0.3, 0.1, -0.3),
    ItemSpec("asr_1", "Staff know the products and can answer my questions", 6.1, -0.4, 0.3, -0.5),
    ItemSpec("asr_2", "My data and payments are kept secure", 6.6, 0.0, 0.2, 0.0, 0.04),
    ItemSpec("asr_3", "Staff are courteous", 5.8, 0.3, 0.0, 0.0),
    ItemSpec("asr_4", "Advice I can trust, not a sales pitch", 6.1, -0.6, 0.1, -0.2),
    ItemSpec("emp_1", "Opening hours that suit me", 5.4, -0.1, 0.0, 0.0),
    ItemSpec("emp_2", "Staff give me personal attention", 5.4, -0.5, 0.5, -0.3),
    ItemSpec("emp_3", "They understand my specific needs", 5.8, -0.7, 0.5, -0.7),
    ItemSpec("emp_4", "A dedicated contact who knows my account", 4.7, -0.3, 1.7, -1.2, 0.08),
)

# The action plan: the department that can fix each attribute, and how much it takes (low,
# medium, high). Two items have no owner (the plan lists them as Unassigned).
OWNERS: dict[str, tuple[str, str]] = {
    "tan_1": ("Network", "high"),
    "tan_2": ("Customer service", "low"),
    "tan_3": ("Digital", "medium"),
    "tan_4": ("Billing", "low"),
    "rel_1": ("Network", "high"),
    "rel_2": ("Billing", "medium"),
    "rel_3": ("Network", "high"),
    "rel_4": ("Field engineering", "medium"),
    "res_1": ("Customer service", "medium"),
    "res_2": ("Customer service", "low"),
    "res_3": ("Digital", "low"),
    "res_4": ("Customer service", "low"),
    "asr_1": ("Customer service", "medium"),
    "asr_2": ("Digital", "high"),
    "asr_3": ("Customer service", "low"),
    "emp_2": ("Customer service", "medium"),
    "emp_3": ("Customer service", "medium"),
    "emp_4": ("Customer service", "high"),
}
#: Who receives each owner's part of the action plan (params ``report.owners``).
OWNER_EMAILS: dict[str, tuple[str, ...]] = {
    "Billing": ("billing@harbourline.example",),
    "Customer service": ("customer-service@harbourline.example",),
    "Network": ("network@harbourline.example",),
    "Digital": ("digital@harbourline.example",),
    "Field engineering": ("field-engineering@harbourline.example",),
}

# Regional shifts of latent performance (the West is rural: worse coverage and more outages).
REGION_PERFORMANCE = {
    "rel_1": {"North": 0.2, "West": -0.7},
    "rel_3": {"West": -0.3},
    "tan_1": {"North": 0.1, "West": -0.2},
    "emp_1": {"East": -0.3},
}
# True key drivers: overall_sat latent = 6.9 + sum beta * (performance - population mean) + noise.
# The staff survey (perception gap): staff rate what they believe customers expect. Staff
# underestimate how much customers expect of Responsiveness and Empathy and overrate Tangibles.
STAFF_SIZE = 140
STAFF_BIAS = {"Responsiveness": -0.7, "Empathy": -0.35, "Tangibles": 0.3}
STAFF_NOISE = 0.8
STAFF_MISSING = 0.02
# The themes of the open comments: name -> (word stems for the codebook, the items it speaks
# to, the comments a customer unhappy with those items writes). A comment's phrases use the
# stems as written, so coding on the codebook's words finds them.
THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "Billing errors": (
        ("bill", "invoice", "charge"),
        ("rel_2", "tan_4"),
        (
            "My bill was wrong again",
            "I was charged twice for the same month",
            "The invoice is impossible to understand",
            "Unexpected charges on my bill every month",
            "Fix the billing errors please",
        ),
    ),
    "Waiting times": (
        ("wait", "queue", "hold"),
        ("res_2", "res_3"),
        (
            "I had to wait 40 minutes to speak to someone",
            "Far too long on hold every time I call",
            "The queue on the phone line is ridiculous",
            "Waited days for a reply to my chat message",
        ),
    ),
    "Helpfulness of staff": (
        ("staff", "advisor", "rude"),
        ("res_4", "asr_1", "asr_3", "emp_2"),
        (
            "The staff in the shop did not know the products",
            "The advisor was rude and unhelpful",
            "Staff kept passing me from one person to another",
            "One advisor really listened, the others did not",
        ),
    ),
    "Network coverage": (
        ("signal", "coverage", "network", "outage"),
        ("rel_1", "rel_3", "tan_1"),
        (
            "No signal at home most evenings",
            "Coverage is poor outside town",
            "Another network outage this week",
            "Calls drop because the network is weak here",
        ),
    ),
    "The app and website": (
        ("app", "website", "login"),
        ("tan_3",),
        (
            "The app keeps crashing when I pay",
            "Cannot find anything on the website",
            "The login never works on the first try",
        ),
    ),
    "Faults and repairs": (
        ("fault", "repair", "engineer"),
        ("res_1", "rel_4"),
        (
            "Three calls before anyone fixed the fault",
            "The engineer never turned up on the day we agreed",
            "Still no sign of the repair I was promised",
            "Every fault means explaining it all again",
        ),
    ),
}
#: Comments that raise no theme.
OTHER_COMMENTS = (
    "Pleased overall, thanks",
    "Nothing to add",
    "Good value for money",
    "Keep it up",
    "Been a customer for years, no complaints",
)
#: Personal data planted in a few comments (the pipeline must redact it): ``{}`` is a number.
PLANTED = (
    "please email me at customer{}@example.com",
    "call me back on 07700 900{:03d}",
    "my account number is 4417{:08d}",
)
#: How many comments carry each kind of planted personal data.
PLANTED_EACH = 4
#: Chance of raising a theme: THEME_BASE + THEME_SLOPE * how far below THEME_FROM the customer
#: rates the theme's items on average (per point; a blank or invalid rating counts as THEME_FROM).
THEME_FROM = 5.5
THEME_BASE = 0.015
THEME_SLOPE = 0.1
#: Chance that a customer who raises no theme still writes something.
OTHER_SHARE = 0.12
# Earlier waves (tracking): the same customer base surveyed in these years with the same design,
# each customer's performance ratings shifted by these amounts (by dimension, or by item where
# named; years not listed: as 2026). Responsiveness and Reliability gaps close over the waves
# (performance was lower before), the app's (tan_3) widens (it was better before).
WAVE_YEARS = (2024, 2025)
#: The year of the current (2026) survey the earlier waves lead up to.
CURRENT_YEAR = 2026
WAVE_SHIFTS: dict[int, dict[str, float]] = {
    2024: {"Responsiveness": -0.8, "Reliability": -0.5, "tan_3": 0.7},
    2025: {"Responsiveness": -0.4, "Reliability": -0.25, "tan_3": 0.35},
}
#: Earlier waves' invitation numbers start here per year before 2026 (ids never clash).
WAVE_ID_OFFSET = 10_000
DRIVERS = {"rel_1": 0.55, "rel_3": 0.45, "res_1": 0.50, "res_2": 0.25, "emp_3": 0.15}
SCORE_MISSING = 0.01

# The deliberately invalid rows: (key, column, value written, rule broken); the module docstring
# lists them. ``duplicate_id`` is two rows: the second carries the first one's respondent_id (so
# its value here is unused); in :class:`InvalidRow` "first"/"second" are in file order.
INVALID_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("out_of_scale", "p_res_1", "9", "rating outside the 1-7 scale"),
    ("not_a_number", "e_asr_2", "n/a", "rating is text, not a number"),
    ("recommend_out_of_range", "recommend", "11", "recommend outside the 0-10 scale"),
    ("unknown_segment", "segment", "Goverment", "segment value not in the codebook"),
    ("duplicate_id", "respondent_id", "", "respondent_id used by two rows (first row)"),
    ("duplicate_id", "respondent_id", "", "respondent_id used by two rows (second row)"),
    ("missing_weight", "base_weight", "", "base_weight missing"),
    ("negative_weight", "base_weight", "-12.5", "base_weight negative"),
    ("non_integer", "p_rel_2", "4.5", "rating not an integer"),
    ("missing_id", "respondent_id", "", "respondent_id missing"),
)


@dataclass(frozen=True)
class InvalidRow:
    """One deliberately invalid row of ``responses.csv``.

    ``line`` is the 1-based line of the file (the header is line 1); ``respondent_id`` is as written
    (empty for the ``missing_id`` row).
    """

    key: str
    respondent_id: str
    line: int
    column: str
    value: str
    rule: str


@dataclass(frozen=True)
class DemoFiles:
    """What :func:`generate_demo` wrote."""

    responses: Path
    codebook: Path
    population: Path
    truth: Path
    staff: Path
    params: Path | None
    seed: int
    n_rows: int
    n_valid: int
    population_size: int
    invalid: tuple[InvalidRow, ...]
    #: the earlier waves' responses (and params files) under ``<out_dir>/waves/``
    waves: tuple[Path, ...] = ()

    def paths(self) -> list[Path]:
        """Every file written, data first (the earlier waves' files last)."""
        out = [self.responses, self.codebook, self.population, self.truth, self.staff]
        return out + ([self.params] if self.params is not None else []) + list(self.waves)

    def summary(self) -> str:
        """A few lines for the command line."""
        lines = [
            f"Harbourline Telecom demo (seed {self.seed}): {self.population_size:,} customers, "
            f"{self.n_rows:,} survey rows ({self.n_valid:,} valid, {len(self.invalid)} invalid "
            "on purpose)",
        ]
        lines += [f"  wrote {p}" for p in self.paths()]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# simulation


@dataclass(frozen=True)
class Simulation:
    """Everything the generator simulated (for tests and checks; nothing here is written as is).

    ``frame``: one row per customer: ``segment, region`` and the integer ``e_*``, ``p_*``,
    ``overall_sat``, ``recommend`` every customer would give. ``sample``: one row per invited
    customer with ``customer`` (frame row), ``invite`` (number behind the respondent id),
    ``stratum``, ``base_weight`` (unrounded) and ``responded``. ``responses``: the text table
    written to ``responses.csv``; ``invalid``: the invalid rows in it.
    """

    frame: pd.DataFrame
    sample: pd.DataFrame
    responses: pd.DataFrame
    invalid: tuple[InvalidRow, ...]


def rating_columns() -> list[str]:
    """The rating columns in file order: all expectations, then all performances."""
    return [f"e_{it.id}" for it in ITEMS] + [f"p_{it.id}" for it in ITEMS]


def response_columns() -> list[str]:
    """The columns of ``responses.csv`` in order."""
    head = ["respondent_id", "segment", "region", "stratum", "base_weight"]
    tail = ["overall_sat", "recommend", "duration_sec", "comment", VALUE_COLUMN]
    return [*head, *rating_columns(), *tail]


def _rate(latent: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.rint(np.clip(latent, lo, hi)).astype(np.int64)


def build_population(seed: int = DEFAULT_SEED, size: int = POPULATION_SIZE) -> pd.DataFrame:
    """Simulate the customer base (the population frame).

    Returns
    -------
    DataFrame, one row per customer: ``segment``, ``region`` (str), ``e_<item>``, ``p_<item>``
    (int 1-7), ``overall_sat``, ``recommend`` (int 0-10).
    """
    streams = np.random.SeedSequence(seed).spawn(3)
    rng_frame, rng_ratings, rng_scores = (np.random.default_rng(s) for s in streams)

    seg = rng_frame.choice(len(SEGMENTS), size=size, p=SEGMENT_SHARES)
    reg = np.empty(size, dtype=np.int64)
    for s, shares in enumerate(REGION_SHARES):
        idx = np.flatnonzero(seg == s)
        reg[idx] = rng_frame.choice(len(REGIONS), size=len(idx), p=shares)

    k = len(ITEMS)
    dims = sorted(DIMENSIONS.values())
    dim_of = np.array([dims.index(it.dimension) for it in ITEMS])
    # Segment position: Consumer 0, Small business SMALL_BUSINESS_SHARE, Enterprise 1.
    seg_pos = np.array([0.0, SMALL_BUSINESS_SHARE, 1.0])[seg][:, None]
    mu_e = np.array([it.expectation for it in ITEMS])[None, :]
    gap = np.array([it.gap for it in ITEMS])[None, :]
    ent_e = np.array([it.enterprise_expectation for it in ITEMS])[None, :]
    ent_gap = np.array([it.enterprise_gap for it in ITEMS])[None, :]
    region_shift = _region_shift()

    style = rng_ratings.normal(0.0, 0.30, size)[:, None]  # scale use, both batteries
    demanding = rng_ratings.normal(0.0, 0.45, size)[:, None]  # how much this customer expects
    general = rng_ratings.normal(0.0, 0.50, size)[:, None]  # general satisfaction
    per_dim = rng_ratings.normal(0.0, 0.45, (size, len(dims)))[:, dim_of]
    e_noise = rng_ratings.normal(0.0, 0.60, (size, k))
    p_noise = rng_ratings.normal(0.0, 0.75, (size, k))

    e_mean = mu_e + seg_pos * ent_e
    p_mean = e_mean + gap + seg_pos * ent_gap + region_shift[reg]
    e_int = _rate(e_mean + style + demanding + e_noise, *SCALE)
    p_int = _rate(p_mean + style + general + per_dim + p_noise, *SCALE)

    overall, recommend = _scores(p_int, rng_scores)
    ids = [it.id for it in ITEMS]
    data: dict[str, object] = {
        "segment": np.array(SEGMENTS, dtype=object)[seg],
        "region": np.array(REGIONS, dtype=object)[reg],
    }
    for j, item_id in enumerate(ids):
        data[f"e_{item_id}"] = e_int[:, j]
    for j, item_id in enumerate(ids):
        data[f"p_{item_id}"] = p_int[:, j]
    data["overall_sat"] = _rate(overall, *SCORE_SCALE)
    data["recommend"] = _rate(recommend, *SCORE_SCALE)
    return pd.DataFrame(data)


def _region_shift() -> np.ndarray:
    """Shifts of latent performance, one row per region, one column per item."""
    shift = np.zeros((len(REGIONS), len(ITEMS)))
    ids = [it.id for it in ITEMS]
    for item_id, shifts in REGION_PERFORMANCE.items():
        for region, value in shifts.items():
            shift[REGIONS.index(region), ids.index(item_id)] = value
    return shift


def _scores(performance: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Latent overall satisfaction (the true key drivers of :data:`DRIVERS` plus noise) and
    likelihood to recommend (overall satisfaction plus noise), one value per customer, from the
    customers' integer performance ratings (one column per item)."""
    size = len(performance)
    ids = [it.id for it in ITEMS]
    overall = np.full(size, 6.9)
    for item_id, beta in DRIVERS.items():
        col = performance[:, ids.index(item_id)].astype(float)
        overall += beta * (col - col.mean())
    overall += rng.normal(0.0, 1.2, size)
    recommend = overall + 0.4 + rng.normal(0.0, 1.3, size)
    return overall, recommend


def nps(recommend: np.ndarray) -> float:
    """Net Promoter Score (-100..100): % promoters (9-10) minus % detractors (0-6)."""
    r = np.asarray(recommend)
    return float(100.0 * (np.mean(r >= 9) - np.mean(r <= 6)))


def population_truth(frame: pd.DataFrame) -> pd.DataFrame:
    """The finite-population truth of a frame.

    Returns
    -------
    DataFrame with columns ``item, group, level, count, expectation, performance, gap, value``:
    for each item (codebook order), ``group = all, level = all``, then each segment, then each
    region (``group`` = ``segment``/``region``): ``count`` customers in the domain and the
    population means of their integer expectation and performance ratings and of the per-customer
    gap (performance minus expectation; equals the difference of the two means). Then rows
    ``item = overall_sat`` (``value`` = mean 0-10 overall satisfaction) and ``item = nps``
    (``value`` = Net Promoter Score) for the same domains; their rating columns are empty (NaN).
    """
    domains: list[tuple[str, str, np.ndarray]] = [("all", "all", np.ones(len(frame), bool))]
    for group, levels in (("segment", SEGMENTS), ("region", REGIONS)):
        col = frame[group].to_numpy()
        domains += [(group, level, col == level) for level in levels]
    rows = []
    for it in ITEMS:
        e = frame[f"e_{it.id}"].to_numpy()
        p = frame[f"p_{it.id}"].to_numpy()
        for group, level, mask in domains:
            n = int(mask.sum())
            se, sp = int(e[mask].sum()), int(p[mask].sum())
            rows.append((it.id, group, level, n, se / n, sp / n, (sp - se) / n, np.nan))
    for name in ("overall_sat", "nps"):
        for group, level, mask in domains:
            if name == "overall_sat":
                value = float(frame["overall_sat"].to_numpy()[mask].mean())
            else:
                value = nps(frame["recommend"].to_numpy()[mask])
            rows.append((name, group, level, int(mask.sum()), np.nan, np.nan, np.nan, value))
    cols = ["item", "group", "level", "count", "expectation", "performance", "gap", "value"]
    return pd.DataFrame(rows, columns=cols)


def simulate_staff(frame: pd.DataFrame, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The staff survey as exported (text): ``staff_id`` and ``s_<item>``, each staff member's
    belief of what customers expect of the item: the customers' true mean expectation plus the
    staff bias of the item's dimension (:data:`STAFF_BIAS`) plus personal noise, on the 1-7 scale.
    Rows break a rule on purpose: ST-011 rates s_rel_2 8, and ST-041 is used twice.
    A stream of its own (seed, 7), so the customer survey does not change with it.
    """
    rng = np.random.default_rng([seed, 7])
    data: dict[str, object] = {"staff_id": [f"ST-{k:03d}" for k in range(1, STAFF_SIZE + 1)]}
    person = rng.normal(0.0, 0.3, STAFF_SIZE)  # some staff rate everything higher
    for it in ITEMS:
        truth = float(frame[f"e_{it.id}"].mean())
        latent = truth + STAFF_BIAS.get(it.dimension, 0.0) + person
        latent = latent + rng.normal(0.0, STAFF_NOISE, STAFF_SIZE)
        rated = _rate(latent, *SCALE).astype(object)
        rated[rng.random(STAFF_SIZE) < STAFF_MISSING] = None
        data[f"s_{it.id}"] = [None if v is None else str(int(v)) for v in rated]
    staff = pd.DataFrame(data)
    staff.loc[10, "s_rel_2"] = "8"
    staff.loc[41, "staff_id"] = staff.loc[40, "staff_id"]
    return staff


def population_margins(frame: pd.DataFrame) -> pd.DataFrame:
    """Margins of the frame: columns ``variable, level, count`` for ``segment`` then ``region``."""
    rows = []
    for variable, levels in (("segment", SEGMENTS), ("region", REGIONS)):
        counts = frame[variable].value_counts()
        rows += [(variable, level, int(counts.get(level, 0))) for level in levels]
    return pd.DataFrame(rows, columns=["variable", "level", "count"])


def _draw_sample(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    seg = frame["segment"].to_numpy()
    parts = []
    for s, (segment, code, n_h) in enumerate(zip(SEGMENTS, STRATA, INVITED, strict=True)):
        members = np.flatnonzero(seg == segment)
        if n_h > len(members):
            raise ValueError(f"stratum {code}: {n_h} invitations but {len(members)} customers")
        chosen = np.sort(rng.choice(members, size=n_h, replace=False))
        parts.append(
            pd.DataFrame(
                {
                    "customer": chosen,
                    "stratum": code,
                    "segment_index": s,
                    "base_weight": len(members) / n_h,
                }
            )
        )
    sample = pd.concat(parts, ignore_index=True)
    # Respondent ids are invitation numbers: a random order over all invitations.
    sample["invite"] = rng.permutation(len(sample)) + 1
    reg = frame["region"].to_numpy()[sample["customer"].to_numpy()]
    reg_index = np.array([REGIONS.index(r) for r in reg])
    propensity = (
        np.array(RESPONSE_SEGMENT)[sample["segment_index"].to_numpy()]
        * np.array(RESPONSE_REGION)[reg_index]
    )
    sample["responded"] = rng.random(len(sample)) < propensity
    return sample.drop(columns="segment_index")


def _format_weight(w: float) -> str:
    return f"{w:.4f}"


def _text_rows(frame: pd.DataFrame, sample: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The questionnaire rows (as text) of the invited customers in ``sample`` (in its order)."""
    cust = sample["customer"].to_numpy()
    sub = frame.iloc[cust].reset_index(drop=True)
    n = len(sub)
    out: dict[str, object] = {
        "invite": sample["invite"].to_numpy(),
        "respondent_id": [f"{ID_PREFIX}{i:06d}" for i in sample["invite"]],
        "segment": sub["segment"].to_numpy(),
        "region": sub["region"].to_numpy(),
        "stratum": sample["stratum"].to_numpy(),
        "base_weight": [_format_weight(w) for w in sample["base_weight"]],
    }
    # Item nonresponse, missing completely at random: the pair skipped with the item's rate, and a
    # further 0.6% of single cells left blank.
    pair_skip = {it.id: rng.random(n) < it.missing for it in ITEMS}
    for col in rating_columns():
        values = sub[col].to_numpy().astype(str).astype(object)
        blank = pair_skip[col[2:]] | (rng.random(n) < 0.006)
        values[blank] = ""
        out[col] = values
    for col in ("overall_sat", "recommend"):
        values = sub[col].to_numpy().astype(str).astype(object)
        values[rng.random(n) < SCORE_MISSING] = ""
        out[col] = values
    duration = np.exp(rng.normal(np.log(540.0), 0.45, n))
    speeder = rng.random(n) < 0.02
    duration[speeder] = rng.uniform(60.0, 150.0, int(speeder.sum()))
    idle = rng.random(n) < 0.005
    duration[idle] = rng.uniform(2_400.0, 6_000.0, int(idle.sum()))
    out["duration_sec"] = np.rint(duration).astype(np.int64).astype(str)
    return pd.DataFrame(out)


#: The customer's value to Harbourline (codebook ``value``): annual spend in pounds.
VALUE_COLUMN = "annual_spend"
#: Median annual spend per segment (log-normal around it, SPEND_SPREAD on the log scale).
SPEND_MEDIAN = {"Consumer": 480.0, "Small business": 6_500.0, "Enterprise": 85_000.0}
SPEND_SPREAD = 0.7
#: Spend rises a little with the customer's mean performance rating (per point, log scale).
SPEND_PER_POINT = 0.08
#: Share of customers whose spend the CRM extract lacks (left blank).
SPEND_MISSING = 0.02


def _annual_spend(table: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """Each row's annual spend (text, two decimals; ``""`` for the few unknown), from ``rng``
    alone: far higher for Enterprise and Small business, a little higher the better the
    customer rates Harbourline's performance. Rows whose segment is not a demo segment (the
    deliberately invalid rows) get a Consumer's."""
    n = len(table)
    median = table["segment"].map(SPEND_MEDIAN).fillna(SPEND_MEDIAN["Consumer"]).to_numpy()
    perf = table[[f"p_{it.id}" for it in ITEMS]].apply(pd.to_numeric, errors="coerce")
    mean = perf.mean(axis=1).fillna(float(np.mean(SCALE))).to_numpy()
    centre = float(np.mean(SCALE))
    spend = median * np.exp(rng.normal(0.0, SPEND_SPREAD, n) + SPEND_PER_POINT * (mean - centre))
    unknown = rng.random(n) < SPEND_MISSING
    return ["" if u else f"{x:.2f}" for x, u in zip(spend, unknown, strict=True)]


def _comments(table: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """The open comment of each row of ``table`` (file order; ``""`` for none), from ``rng``
    alone: themes raised more often the lower the row's performance ratings of their items
    (:data:`THEMES`), a few comments raising none, and :data:`PLANTED_EACH` of each kind of
    :data:`PLANTED` personal data appended to comments that raise a theme."""
    n = len(table)
    phrases: list[list[str]] = [[] for _ in range(n)]
    for words, items, texts in THEMES.values():
        del words
        ratings = table[[f"p_{i}" for i in items]].apply(pd.to_numeric, errors="coerce")
        mean = ratings.mean(axis=1).fillna(THEME_FROM).to_numpy()
        low = np.clip(THEME_FROM - mean, 0.0, THEME_FROM - SCALE[0])
        raised = rng.random(n) < THEME_BASE + THEME_SLOPE * low
        pick = rng.integers(0, len(texts), n)
        for i in np.flatnonzero(raised):
            phrases[i].append(texts[pick[i]])
    other = rng.random(n) < OTHER_SHARE
    other_pick = rng.integers(0, len(OTHER_COMMENTS), n)
    order = rng.permutation(n)  # the order of a comment's phrases
    out = []
    for i in range(n):
        said = phrases[i]
        if len(said) > 1 and order[i] % 2:
            said = said[::-1]
        if not said and other[i]:
            said = [OTHER_COMMENTS[other_pick[i]]]
        out.append(". ".join(said) + ("." if said else ""))
    themed = [i for i in range(n) if phrases[i]]
    chosen = rng.choice(len(themed), size=PLANTED_EACH * len(PLANTED), replace=False)
    for k, c in enumerate(chosen):
        i = themed[c]
        out[i] = f"{out[i][:-1]}, {PLANTED[k % len(PLANTED)].format(int(rng.integers(0, 1000)))}."
    return out


def simulate(seed: int = DEFAULT_SEED, size: int = POPULATION_SIZE) -> Simulation:
    """Simulate the frame, the sample, the responses and the invalid rows for ``seed``."""
    frame = build_population(seed, size)
    rng_sample, rng_answers, rng_invalid = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(3)
    )
    sample = _draw_sample(frame, rng_sample)
    respondents = sample[sample["responded"]].reset_index(drop=True)
    valid = _text_rows(frame, respondents, rng_answers)

    # Invalid rows: genuine answers of invited non-respondents, one rule broken per row.
    nonresp = sample[~sample["responded"]].reset_index(drop=True)
    pick = np.sort(rng_invalid.choice(len(nonresp), size=len(INVALID_ROWS), replace=False))
    order = rng_invalid.permutation(len(INVALID_ROWS))  # which non-respondent breaks which rule
    bad = _text_rows(frame, nonresp.iloc[pick[order]].reset_index(drop=True), rng_invalid)
    bad["key"] = [key for key, *_ in INVALID_ROWS]
    dup = [i for i, (key, *_) in enumerate(INVALID_ROWS) if key == "duplicate_id"]
    for i, (key, column, value, _rule) in enumerate(INVALID_ROWS):
        if key != "duplicate_id":
            bad.loc[i, column] = value
    # The second copy keeps its own invitation number (its place in the file), not its own id.
    bad.loc[dup[1:], "respondent_id"] = bad.loc[dup[0], "respondent_id"]

    valid["key"] = ""
    table = pd.concat([valid, bad], ignore_index=True)
    table = table.sort_values("invite", kind="stable").reset_index(drop=True)
    lines = {}
    for pos, key in enumerate(table["key"]):
        if key:
            lines.setdefault(key, []).append(pos + 2)
    invalid = []
    seen: dict[str, int] = {}
    for key, column, _value, rule in INVALID_ROWS:
        k = seen.get(key, 0)
        seen[key] = k + 1
        line = lines[key][k]
        row = table.iloc[line - 2]
        invalid.append(
            InvalidRow(
                key=key,
                respondent_id=str(row["respondent_id"]),
                line=line,
                column=column,
                value=str(row[column]),
                rule=rule,
            )
        )
    table["comment"] = _comments(table, np.random.default_rng([seed, 11]))
    table[VALUE_COLUMN] = _annual_spend(table, np.random.default_rng([seed, 1501]))
    responses = table[response_columns()].reset_index(drop=True)
    return Simulation(frame=frame, sample=sample, responses=responses, invalid=tuple(invalid))


def _wave_shift(item: ItemSpec, year: int) -> float:
    """How much higher the customers rated ``item``'s performance in ``year`` than in 2026."""
    shifts = WAVE_SHIFTS.get(year, {})
    return shifts.get(item.id, shifts.get(item.dimension, 0.0))


def wave_frame(frame: pd.DataFrame, year: int, rng: np.random.Generator) -> pd.DataFrame:
    """The customer base as it rated performance in an earlier ``year``: each ``p_*`` rating
    shifted by :data:`WAVE_SHIFTS` (stochastic rounding to whole points, kept on the scale);
    expectations, segments and scores as in 2026."""
    out = frame.copy()
    for it in ITEMS:
        d = _wave_shift(it, year)
        if d == 0.0:
            continue
        step = np.floor(d) + (rng.random(len(out)) < d - np.floor(d))
        out[f"p_{it.id}"] = np.clip(out[f"p_{it.id}"] + step, *SCALE).astype(np.int64)
    return out


def simulate_wave(frame: pd.DataFrame, year: int, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The ``responses.csv`` rows of the survey of an earlier ``year``: the 2026 design (strata,
    invitations, response propensities) drawn afresh from the same customer base
    (:func:`wave_frame`), from a random stream of its own (every 2026 file is as it would be
    without waves). Respondent ids start at ``(CURRENT_YEAR - year) * WAVE_ID_OFFSET`` so they never
    clash with another wave's; no invalid rows."""
    rng_shift, rng_sample, rng_answers, rng_comments = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, 20, year]).spawn(4)
    )
    rated = wave_frame(frame, year, rng_shift)
    sample = _draw_sample(rated, rng_sample)
    sample["invite"] = sample["invite"] + (CURRENT_YEAR - year) * WAVE_ID_OFFSET
    respondents = sample[sample["responded"]].sort_values("invite").reset_index(drop=True)
    table = _text_rows(rated, respondents, rng_answers)
    table["comment"] = _comments(table, rng_comments)
    table[VALUE_COLUMN] = _annual_spend(table, np.random.default_rng([seed, 1501, year]))
    return table[response_columns()].reset_index(drop=True)


def wave_params_text(year: int, out_dir: Path, root: Path, seed: int = DEFAULT_SEED) -> str:
    """The params file of the earlier wave of ``year`` (``<out_dir>/waves/<year>.yaml``): its
    own responses, the demo's codebook, design and margins; no staff survey, no recipients."""
    base = _rel(Path(out_dir), Path(root))
    if base.startswith(".."):
        base = Path(out_dir).resolve().as_posix()
    return (
        f"# Outside-In demo client, the {year} wave (an earlier survey for the trend), simulated\n"
        f"# by analysis.ops.demo.generate_demo (seed {seed}); regenerate rather than edit.\n"
        f"client: {CLIENT}-{year}\n"
        f"title: {TITLE.replace(str(CURRENT_YEAR), str(year))}\n"
        f"survey: {base}/waves/{year}/responses.csv\n"
        f"codebook: {base}/codebook.yaml\n"
        "design:\n"
        "  weight: base_weight\n"
        "  strata: stratum\n"
        "weighting:\n"
        "  method: rake\n"
        f"  margins: {base}/population.csv\n"
        "analysis:\n"
        "  by: [segment, region]\n"
        "  confidence: 0.95\n"
        "  min_cell: 5\n"
    )


def _write_waves(
    frame: pd.DataFrame, out_dir: Path, seed: int, root: Path | None
) -> tuple[Path, ...]:
    """Write each earlier wave's ``waves/<year>/responses.csv`` (and, with ``root``, its params
    file ``waves/<year>.yaml``); return the paths written."""
    written = []
    for year in WAVE_YEARS:
        target = out_dir / "waves" / str(year) / "responses.csv"
        _write_bytes(_csv_text(simulate_wave(frame, year, seed)), target)
        written.append(target)
        if root is not None:
            params = out_dir / "waves" / f"{year}.yaml"
            _write_bytes(wave_params_text(year, out_dir, root, seed), params)
            written.append(params)
    return tuple(written)


# ---------------------------------------------------------------------------------------------
# writing


def _write_bytes(text: str, target: Path) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(text.encode("utf-8"))


def _csv_text(frame: pd.DataFrame, floats: str = "{:.6f}") -> str:
    buf = _stdio.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(frame.columns))
    for row in frame.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append("" if np.isnan(v) else floats.format(v))
            else:
                cells.append(str(v))
        writer.writerow(cells)
    return buf.getvalue()


def codebook_dict() -> dict[str, object]:
    """The demo codebook as plain data (the DESIGN.md codebook contract)."""
    return {
        "id": "respondent_id",
        "scale": {"min": SCALE[0], "max": SCALE[1]},
        "items": [
            {
                "id": it.id,
                "label": it.label,
                "dimension": it.dimension,
                "expectation": f"e_{it.id}",
                "performance": f"p_{it.id}",
                **_owner_fields(it.id),
            }
            for it in ITEMS
        ],
        "segments": {
            "segment": {"label": "Customer type", "values": list(SEGMENTS)},
            "region": {"label": "Region", "values": list(REGIONS)},
        },
        "overall": "overall_sat",
        "duration": "duration_sec",
        "recommend": "recommend",
        "staff": {"id": "staff_id", "items": {it.id: f"s_{it.id}" for it in ITEMS}},
        "comments": ["comment"],
        "value": VALUE_COLUMN,
        "themes": {
            name: {"words": list(words), "items": list(items)}
            for name, (words, items, _texts) in THEMES.items()
        },
    }


def _owner_fields(item: str) -> dict[str, str]:
    """The codebook's ``owner`` and ``effort`` of a demo item (none for an unowned one)."""
    if item not in OWNERS:
        return {}
    owner, effort = OWNERS[item]
    return {"owner": owner, "effort": effort}


def _owners_text() -> str:
    """The params lines of ``report.owners`` (under ``report:``)."""
    lines = ["  owners:\n"]
    for owner, emails in OWNER_EMAILS.items():
        lines.append(f"    {owner}: [{', '.join(emails)}]\n")
    return "".join(lines)


def _codebook_text(seed: int) -> str:
    header = (
        "# Codebook of the Outside-In demo client, Harbourline Telecom (fictional).\n"
        f"# Written by analysis.ops.demo.generate_demo (seed {seed}); "
        "regenerate rather than edit.\n"
    )
    body = yaml.safe_dump(codebook_dict(), sort_keys=False, allow_unicode=True, width=100)
    return header + body


def _rel(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return path.resolve().as_posix()


def params_text(out_dir: Path, root: Path, seed: int = DEFAULT_SEED) -> str:
    """The ``params/demo.yaml`` text, with data paths relative to ``root`` (the project root)."""
    base = _rel(Path(out_dir), Path(root))
    if base.startswith(".."):
        base = Path(out_dir).resolve().as_posix()
    recipients = ", ".join(RECIPIENTS)
    return (
        "# Outside-In demo client: Harbourline Telecom (fictional), simulated by\n"
        f"# analysis.ops.demo.generate_demo (seed {seed}); regenerate rather than edit.\n"
        f"client: {CLIENT}\n"
        f"title: {TITLE}\n"
        f"survey: {base}/responses.csv\n"
        f"codebook: {base}/codebook.yaml\n"
        "design:\n"
        "  weight: base_weight\n"
        "  strata: stratum\n"
        "weighting:\n"
        "  method: rake\n"
        f"  margins: {base}/population.csv\n"
        f"staff_survey: {base}/staff.csv\n"
        "analysis:\n"
        "  by: [segment, region]\n"
        "  confidence: 0.95\n"
        "  min_cell: 5\n"
        "report:\n"
        f"  recipients: [{recipients}]\n"
        + _owners_text()
        + f"previous: [{', '.join(f'{base}/waves/{y}.yaml' for y in WAVE_YEARS)}]\n"
    )


def _write_data(sim: Simulation, out_dir: Path, seed: int) -> dict[str, Path]:
    """Write the data files of a simulation into ``out_dir``; return their paths by role."""
    files = {
        "responses": out_dir / "responses.csv",
        "codebook": out_dir / "codebook.yaml",
        "population": out_dir / "population.csv",
        "truth": out_dir / "truth.csv",
        "staff": out_dir / "staff.csv",
    }
    _write_bytes(_csv_text(sim.responses), files["responses"])
    _write_bytes(_codebook_text(seed), files["codebook"])
    _write_bytes(_csv_text(population_margins(sim.frame)), files["population"])
    _write_bytes(_csv_text(population_truth(sim.frame)), files["truth"])
    _write_bytes(_csv_text(simulate_staff(sim.frame, seed)), files["staff"])
    return files


def generate_demo(
    out_dir: Path,
    seed: int = DEFAULT_SEED,
    *,
    params_path: Path | None = None,
    root: Path | None = None,
    population_size: int = POPULATION_SIZE,
) -> DemoFiles:
    """Simulate the Harbourline Telecom demo client and write its files.

    Parameters
    ----------
    out_dir
        Folder for ``responses.csv``, ``codebook.yaml``, ``population.csv`` and ``truth.csv``
        (created if needed; existing files are replaced atomically). The project ships
        ``data/raw/demo``.
    seed
        Seed of the whole simulation; the same seed gives byte-identical files.
    params_path
        If given, also write the client's params file there (the project ships
        ``params/demo.yaml``). Its data paths are written relative to ``root``.
    root
        Project root for the paths inside the params file. Default: the parent of the params
        file's folder (``params/demo.yaml`` -> the project root). Paths outside ``root`` are
        written absolute.
    population_size
        Customers in the simulated customer base (default 60,000).

    Returns
    -------
    DemoFiles
        The paths written, row counts, and the deliberately invalid rows (:data:`INVALID_ROWS`).
    """
    out_dir = Path(out_dir)
    sim = simulate(seed, population_size)
    files = _write_data(sim, out_dir, seed)
    written_params = None
    if params_path is not None:
        params_path = Path(params_path)
        root = Path(root) if root is not None else params_path.resolve().parent.parent
        _write_bytes(params_text(out_dir, root, seed), params_path)
        written_params = params_path
    waves = _write_waves(sim.frame, out_dir, seed, root if params_path is not None else None)
    return DemoFiles(
        **files,
        params=written_params,
        waves=waves,
        seed=seed,
        n_rows=len(sim.responses),
        n_valid=len(sim.responses) - len(sim.invalid),
        population_size=population_size,
        invalid=sim.invalid,
    )
