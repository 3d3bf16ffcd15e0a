"""Every chart's categorical palette stays distinguishable under colour-vision deficiency.

Simulation: Machado, Oliveira & Fernandes (2009), "A physiologically-based model for simulation
of color vision deficiency", IEEE TVCG 15(6), the severity-1.0 matrices for deuteranopia and
protanopia, applied to linear sRGB. Distance: CIE76 Delta E in CIELAB (D65). Threshold 20: about
ten times the just-noticeable difference (~2.3); small marks (dots, thin lines, 10-px squares)
need a far larger difference than large patches to be told apart at a glance, and 20 is the
distance commonly asked of categorical palettes for plots.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from analysis.cx import vocabulary
from analysis.report import plots

THRESHOLD = 20.0

# Machado et al. (2009), severity 1.0
SIMULATIONS = {
    "normal": np.eye(3),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
         [-0.011820, 0.042940, 0.968881]]
    ),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
         [-0.003882, -0.048116, 1.051998]]
    ),
}  # fmt: skip

SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
WHITE = np.array([0.95047, 1.0, 1.08883])


def linear(hex_colours: tuple[str, ...] | list[str]) -> np.ndarray:
    rgb = np.array(
        [[int(h.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)] for h in hex_colours]
    )
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    xyz = rgb_linear @ SRGB_TO_XYZ.T / WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def smallest_distance(hex_colours: tuple[str, ...] | list[str], vision: str) -> float:
    """The smallest CIE76 distance between any two of the colours as seen with ``vision``."""
    seen = lab(np.clip(linear(hex_colours) @ SIMULATIONS[vision].T, 0, 1))
    return min(
        float(np.linalg.norm(seen[i] - seen[j]))
        for i, j in itertools.combinations(range(len(seen)), 2)
    )


def test_lab_of_known_colours():
    assert lab(linear(["#FFFFFF"]))[0] == pytest.approx([100, 0, 0], abs=0.01)
    assert lab(linear(["#FF0000"]))[0] == pytest.approx([53.24, 80.09, 67.20], abs=0.05)


def test_the_simulation_merges_red_and_green_as_expected():
    # the classic confusion pair: clearly apart normally, close under deuteranopia
    pair = ["#D62728", "#2CA02C"]
    assert smallest_distance(pair, "normal") > 60
    assert smallest_distance(pair, "deuteranopia") < 25
    # seaborn's colorblind palette: its first five merge under both simulations (the old chart)
    old = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc"]
    assert smallest_distance(old, "deuteranopia") < 15 and smallest_distance(old, "protanopia") < 15


PALETTES = {
    # chart -> colours used for different categories in it
    "gap chart (dimensions)": plots.DIMENSION_COLOURS,
    "representativeness (series)": plots.SERIES_COLOURS,
    "priority classes": plots.PRIORITY_COLOURS,
}


@pytest.mark.parametrize("vision", sorted(SIMULATIONS))
@pytest.mark.parametrize("chart", sorted(PALETTES))
def test_palettes_stay_apart(chart: str, vision: str):
    colours = PALETTES[chart]
    for n in range(2, len(colours) + 1):  # a chart with fewer categories uses the first n
        assert smallest_distance(colours[:n], vision) >= THRESHOLD, (chart, vision, n)


def test_one_colour_per_priority_class():
    assert len(plots.PRIORITY_COLOURS) == 4
    classes = getattr(vocabulary, "PRIORITY_CLASSES", None)
    if classes is not None:  # the priority model's vocabulary, once it exists
        assert len(plots.PRIORITY_COLOURS) == len(classes)


def test_five_dimensions_get_five_colours_and_more_repeat():
    assert len(set(plots.colours(plots.DIMENSION_COLOURS, 5))) == 5
    assert plots.colours(plots.DIMENSION_COLOURS, 6)[5] == plots.DIMENSION_COLOURS[0]


def smallest_per_chart() -> dict[str, float]:
    return {c: min(smallest_distance(p, v) for v in SIMULATIONS) for c, p in PALETTES.items()}
