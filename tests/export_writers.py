"""Survey exports written the way Qualtrics and SurveyMonkey write them, for the draft tests.

Each writer draws a small seeded sample and writes it to ``path``; what it planted (the columns
of each role, the codes, the personal data) is returned so tests can check the draft against it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STATEMENTS = [
    "your bill is accurate",
    "calls are answered quickly",
    "staff are friendly",
    "the app is easy to use",
]
LABELS = [s[:1].upper() + s[1:] for s in STATEMENTS]
REGIONS = ["North", "South", "East", "West"]
TYPES = ["Household", "Business"]
EMAILS = ["jane.doe@example.com", "bob_smith99@mail.example.org"]
PHONES = ["+44 20 7946 0958", "(555) 010-4477"]
COMMENTS = [
    "The bill was wrong twice this year and nobody called me back about it.",
    "Friendly people on the phone but it took ages to get through to anyone.",
    "The app keeps logging me out, very annoying when I want to pay quickly.",
    "Great service overall, I have no complaints about the staff at all.",
    "Prices went up again without any warning, I am thinking of leaving.",
    "Please stop sending paper invoices, I asked for email billing months ago.",
]


@dataclass
class Planted:
    """What an export writer planted."""

    path: Path
    rows: int  # data rows (respondents) in the file
    pairs: list[tuple[str, str]]  # (expectation column, performance column)
    labels: list[str]
    segments: dict[str, list[str]]
    overall: str
    recommend: str
    comments: list[str]
    personal: list[str]
    id: str
    code: int  # the "Don't know" code planted in the ratings
    code_cells: int
    scale: tuple[int, int]
    header_rows: int
    extra: dict[str, object] = field(default_factory=dict)


FIRST_NAMES = ["Jane", "Bob", "Linh", "Chidi"]
LAST_NAMES = ["Doe", "Smith", "Nguyen", "Okafor"]
SM_FIRST, SM_LAST = ["Ann", "Ben", "Cai"], ["Lee", "Ray", "Fox"]  # the SurveyMonkey export's
ACCOUNT = "4929 1234 5678 9012"  # a card number planted in one comment in seven


def _comment(
    rng: np.random.Generator, k: int, first: list[str] = FIRST_NAMES, last: list[str] = LAST_NAMES
) -> str:
    """Comment ``k``: a stock sentence, with planted emails, phones, a card number and the name
    of one of the export's respondents (``first``/``last``: its name columns' values)."""
    text = f"{COMMENTS[k % len(COMMENTS)]} (visit {k})"
    if k % 9 == 1:
        text += f" Write to me at {EMAILS[k % 2]}"
    if k % 11 == 2:
        text += f" or call {PHONES[k % 2]}"
    if k % 7 == 4:
        text += f" My card {ACCOUNT} was charged twice."
    if k % 13 == 5:
        text += f" Regards, {first[k % len(first)]} {last[k % len(last)]}"
    return text


def _ratings(
    rng: np.random.Generator, n: int, cols: int, lo: int, hi: int, code: int, share: float
) -> tuple[np.ndarray, int]:
    """Ratings lo-hi with a "Don't know" code in about ``share`` of the rows (one cell each)."""
    values = rng.integers(lo, hi + 1, size=(n, cols))
    rows = np.flatnonzero(rng.random(n) < share)
    values[rows, rng.integers(0, cols, size=len(rows))] = code
    return values, len(rows)


def write_qualtrics(path: Path, n: int = 80, seed: int = 1) -> Planted:
    """A Qualtrics CSV export (UTF-8 with BOM, three header rows): metadata columns, four
    importance/satisfaction pairs (1-5, "Don't know" = 6), region and customer type, overall
    satisfaction (Q9) and recommend (Q10) 0-10, an open comment with planted emails and phones,
    recipient names and email; one Survey Preview row and one unfinished row at the top."""
    rng = np.random.default_rng(seed)
    meta = [
        "StartDate",
        "EndDate",
        "Status",
        "IPAddress",
        "Progress",
        "Duration (in seconds)",
        "Finished",
        "RecordedDate",
        "ResponseId",
        "RecipientLastName",
        "RecipientFirstName",
        "RecipientEmail",
        "ExternalReference",
        "LocationLatitude",
        "LocationLongitude",
        "DistributionChannel",
        "UserLanguage",
    ]
    pairs = [(f"Q{k}_importance", f"Q{k}_satisfaction") for k in range(1, 5)]
    names = [*meta, *[c for p in pairs for c in p], "Q5", "Q6", "Q9", "Q10", "Q11"]
    texts = dict(zip(meta, meta, strict=True))
    for (e, p), said in zip(pairs, STATEMENTS, strict=True):
        texts[e] = f"How important is it to you that {said}? - Importance"
        texts[p] = f"How satisfied are you that {said}? - Satisfaction"
    texts |= {
        "Q5": "Which region do you live in?",
        "Q6": "Are you a household or a business customer?",
        "Q9": "Overall, how satisfied are you with Acme? (0 = not at all, 10 = completely)",
        "Q10": "How likely are you to recommend Acme to a friend or colleague?",
        "Q11": "Is there anything else you would like to tell us?",
    }
    ratings, _ = _ratings(rng, n, 8, 1, 5, 6, 0.08)
    rows = []
    for k in range(n):
        start = f"2026-03-{1 + k % 28:02d} 09:{k % 60:02d}:00"
        row = {
            "StartDate": start,
            "EndDate": start.replace("09:", "10:"),
            "Status": "IP Address",
            "IPAddress": f"81.2.{k % 250}.{(7 * k) % 250}",
            "Progress": "100",
            "Duration (in seconds)": str(200 + (37 * k) % 400),
            "Finished": "True",
            "RecordedDate": start.replace("09:", "11:"),
            "ResponseId": f"R_{k:04d}xYz{(k * 7919) % 10_000:04d}",
            "RecipientLastName": LAST_NAMES[k % 4],
            "RecipientFirstName": FIRST_NAMES[k % 4],
            "RecipientEmail": f"customer{k}@example.net",
            "ExternalReference": "",
            "LocationLatitude": f"{51 + (k % 10) / 10:.4f}",
            "LocationLongitude": f"{-0.1 - (k % 10) / 10:.4f}",
            "DistributionChannel": "anonymous",
            "UserLanguage": "EN",
            "Q5": REGIONS[k % 4],
            "Q6": TYPES[(k // 3) % 2],
            "Q9": str(rng.integers(0, 11)),
            "Q10": str(rng.integers(0, 11)),
            "Q11": _comment(rng, k) if k % 3 else "",
        }
        for j, col in enumerate(c for p in pairs for c in p):
            row[col] = str(ratings[k, j])
        rows.append(row)
    rows[0]["Status"] = "Survey Preview"
    rows[0]["DistributionChannel"] = "preview"
    rows[1] |= {"Finished": "False", "Progress": "23", "Q5": "", "Q6": "", "Q9": "", "Q10": ""}
    rows[1] |= {c: "" for c in names[17 + 4 : 17 + 8]}
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        out = csv.writer(fh)
        out.writerow(names)
        out.writerow([texts[c] for c in names])
        out.writerow([json.dumps({"ImportId": f"QID{k}"}) for k in range(len(names))])
        for row in rows:
            out.writerow([row[c] for c in names])
    return Planted(
        path=path,
        rows=n,
        pairs=pairs,
        labels=LABELS,
        segments={"Q5": REGIONS, "Q6": TYPES},
        overall="Q9",
        recommend="Q10",
        comments=["Q11"],
        personal=[
            "IPAddress",
            "RecipientLastName",
            "RecipientFirstName",
            "RecipientEmail",
            "LocationLatitude",
            "LocationLongitude",
        ],
        id="ResponseId",
        code=6,
        code_cells=int((ratings == 6).sum() - (ratings[1, 4:8] == 6).sum()),
        scale=(1, 5),
        header_rows=3,
    )


def write_surveymonkey(path: Path, n: int = 60, seed: int = 2) -> Planted:
    """A SurveyMonkey CSV export (two header rows): metadata columns (Respondent ID ... Last
    Name), an importance matrix and a satisfaction matrix over three items (1-7, "N/A" = 8), a
    region question, overall satisfaction and recommend (0-10) and an open comment."""
    rng = np.random.default_rng(seed)
    items = ["Accurate bills", "Quick answers", "Friendly staff"]
    meta = [
        "Respondent ID",
        "Collector ID",
        "Start Date",
        "End Date",
        "IP Address",
        "Email Address",
        "First Name",
        "Last Name",
        "Custom Data 1",
    ]
    first = [*meta]
    second = [""] * len(meta)
    first += ["How important are the following to you?", "", ""]
    second += items
    first += ["How satisfied are you with the following?", "", ""]
    second += items
    first += [
        "Which region do you live in?",
        "Overall, how satisfied are you with us?",
        "How likely is it that you would recommend us to a friend or colleague?",
        "Any other comments?",
    ]
    second += ["Response", "Response", "Response", "Open-Ended Response"]
    ratings, _ = _ratings(rng, n, 6, 1, 7, 8, 0.06)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(first)
        out.writerow(second)
        for k in range(n):
            out.writerow(
                [
                    str(11_400_000_000 + 37 * k),
                    "431234567",
                    f"03/{1 + k % 28:02d}/2026 09:12:00 AM",
                    f"03/{1 + k % 28:02d}/2026 09:19:00 AM",
                    f"10.0.{k % 200}.{k % 7}",
                    f"person{k}@example.org",
                    SM_FIRST[k % 3],
                    SM_LAST[k % 3],
                    "",
                    *map(str, ratings[k]),
                    REGIONS[k % 4],
                    str(rng.integers(0, 11)),
                    str(rng.integers(0, 11)),
                    _comment(rng, k, SM_FIRST, SM_LAST) if k % 2 else "",
                ]
            )
    return Planted(
        path=path,
        rows=n,
        pairs=[("Q1_1", "Q2_1"), ("Q1_2", "Q2_2"), ("Q1_3", "Q2_3")],
        labels=items,
        segments={"Q3": REGIONS},
        overall="Q4",
        recommend="Q5",
        comments=["Q6"],
        personal=["IP Address", "Email Address", "First Name", "Last Name"],
        id="Respondent ID",
        code=8,
        code_cells=int((ratings == 8).sum()),
        scale=(1, 7),
        header_rows=2,
    )
