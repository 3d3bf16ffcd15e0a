"""Display names of segments and their values: from the codebook into every result table."""

from __future__ import annotations

import pandas as pd

from analysis.config.params import Codebook
from analysis.cx import suppression
from analysis.cx.inputs import with_labels
from analysis.report.formatting import group_name

BOOK = Codebook.model_validate(
    {
        "id": "rid",
        "scale": {"min": 1, "max": 5},
        "items": [
            {"id": "a", "label": "A", "dimension": "D", "expectation": "e_a", "performance": "p_a"}
        ],
        "segments": {
            "Q0_custtype": {
                "label": "Customer type",
                "values": {"1": "Household", "2": "Business"},
            },
            "region": ["North", "South"],
        },
    }
)


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "group": ["all", "Q0_custtype", "Q0_custtype", "region"],
            "level": ["all", "1", "2", "North"],
            "n": [30, 27, 3, 30],
            "gap": [-0.5, -0.4, -1.0, -0.5],
        }
    )


def test_labels_follow_group_and_level():
    out = with_labels(table(), BOOK)
    assert list(out.columns) == ["group", "group_label", "level", "level_label", "n", "gap"]
    assert out["group_label"].tolist() == [
        "All customers",
        "Customer type",
        "Customer type",
        "region",
    ]
    assert out["level_label"].tolist() == ["All customers", "Household", "Business", "North"]
    assert [group_name(r) for _, r in out.iterrows()] == [
        "All customers",
        "Customer type: Household",
        "Customer type: Business",
        "region: North",
    ]
    # idempotent, and a table without group/level is left alone
    assert with_labels(out, BOOK).equals(out)
    plain = pd.DataFrame({"dimension": ["D"], "alpha": [0.8]})
    assert with_labels(plain, BOOK) is plain


def test_suppressed_rows_keep_their_names():
    out = suppression.suppress(with_labels(table(), BOOK), 5, ("group", "level", "n"))
    hidden = out[out["suppressed"]]
    assert len(hidden) >= 1 and hidden["gap"].isna().all()
    assert hidden[["group_label", "level_label"]].notna().all().all()
    assert "Business" in hidden["level_label"].tolist()
