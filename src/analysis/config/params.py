"""Load and check a client's params file and its codebook (DESIGN.md, contracts).

Everything is checked before anything runs: unknown keys, wrong types, unsafe client slugs, missing
files and codebook cross-references are :class:`~analysis.errors.ParamsError` messages that name the
file and the key. Only plain values (strings) travel to papermill: the notebook gets the params file
path and the project root, and loads the rest itself with :func:`load_client`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from analysis import files
from analysis.config import yamlfile
from analysis.config.logo import LOGO_TYPES, check_logo
from analysis.errors import ParamsError

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
SURVEY_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".sav", ".parquet")
#: The ``design.variance`` methods that draw ``design.replicates`` replicates.
BOOTSTRAPS = ("bootstrap", "subbootstrap")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any) -> Any:
        """YAML's true/false are not numbers (pydantic would read ``min_cell: true`` as 1)."""
        if isinstance(value, bool):
            raise ValueError("true/false given where a value (a number or a name) is expected")
        return value


# ---------------------------------------------------------------------------------------------
# params/<client>.yaml


class DesignConfig(_Model):
    """How the sample was drawn. Absent: a simple random sample with equal weights."""

    weight: str | None = None
    strata: str | None = None
    cluster: str | list[str] | None = None
    fpc: str | list[str] | None = None
    lonely_psu: Literal["fail", "adjust", "average", "remove"] = "fail"
    #: Where standard errors come from: Taylor linearisation, or replicate weights (R's
    #: as.svrepdesign types), each replicate recalibrated as the weighting block says.
    variance: Literal["taylor", "jk1", "jkn", "bootstrap", "subbootstrap"] = "taylor"
    #: Bootstrap replicates (variance bootstrap or subbootstrap; seeded by analysis.seed).
    replicates: int = Field(500, ge=2, le=10_000)

    @property
    def clusters(self) -> list[str]:
        """Cluster columns, one per stage (empty: each respondent is its own PSU)."""
        if self.cluster is None:
            return []
        return [self.cluster] if isinstance(self.cluster, str) else list(self.cluster)

    @property
    def fpcs(self) -> list[str]:
        """Finite population correction columns, one per stage (empty: no fpc)."""
        if self.fpc is None:
            return []
        return [self.fpc] if isinstance(self.fpc, str) else list(self.fpc)

    @model_validator(mode="after")
    def _stages_agree(self) -> DesignConfig:
        if len(self.fpcs) > max(1, len(self.clusters)):
            raise ValueError(
                f"fpc names {len(self.fpcs)} stages but cluster names {len(self.clusters)}; "
                "give one fpc column per sampling stage"
            )
        if "replicates" in self.model_fields_set and self.variance not in BOOTSTRAPS:
            raise ValueError(
                f"replicates is the number of bootstrap replicates, but variance is "
                f"{self.variance!r}, which does not use it (a jackknife has one replicate per "
                "PSU); remove replicates or set variance to bootstrap or subbootstrap"
            )
        return self

    def columns(self) -> list[str]:
        """Every data column the design uses."""
        cols = [self.weight, self.strata, *self.clusters, *self.fpcs]
        return [c for c in cols if c]


class WeightingConfig(_Model):
    """Calibrate the weights to known customer-base counts (a margins file)."""

    method: Literal["rake", "poststratify", "linear"]
    margins: Path
    max_iter: int = Field(100, ge=1, le=10_000, strict=True)
    tolerance: float = Field(1e-8, gt=0, lt=1)
    bounds: tuple[float, float] | None = None  # limits of the weight adjustment factors g
    # how the calibration enters the variance: greg = R calibrate(); r-rake = R rake()
    variance: Literal["greg", "r-rake"] = "greg"
    # small-sample correction of the Taylor variance (METHODS.md section 9); none = R calibrate()
    small_sample: Literal["none", "bell-mccaffrey", "mancl-derouen"] = "none"

    @model_validator(mode="after")
    def _r_rake(self) -> WeightingConfig:
        if self.variance == "r-rake" and (self.method != "rake" or self.bounds is not None):
            raise ValueError(
                "variance r-rake reproduces R's rake(), which rakes without bounds: use it with "
                "method rake and no bounds"
            )
        if self.variance == "r-rake" and self.small_sample != "none":
            raise ValueError(
                f"small_sample {self.small_sample} corrects the GREG residuals (variance greg); "
                "variance r-rake reproduces R's rake(): choose one"
            )
        return self

    @field_validator("bounds")
    @classmethod
    def _bounds(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1]:
            raise ValueError(f"bounds {list(value)} must be [low, high] with 0 <= low < high")
        return value


class AnalysisConfig(_Model):
    by: list[str] = Field(default_factory=list)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    min_cell: int = Field(5, ge=1, strict=True)
    crosshairs: Literal["mean", "midpoint"] = "mean"  # importance-performance quadrant split
    top_priorities: int = Field(3, ge=1, strict=True)  # priorities listed per segment
    replicates: int = Field(500, ge=2, le=10_000, strict=True)  # for key-driver intervals
    replicate_method: Literal["bootstrap", "jackknife"] = "bootstrap"
    # bootstrap replicates are seeded: the same data give the same report
    seed: int = Field(2026, strict=True)
    drivers_missing: Literal["complete", "pairwise"] = "complete"
    #: short quotes shown per theme (redacted, never attributed, only from cells of min_cell)
    quotes: int = Field(3, ge=0, le=10, strict=True)
    #: the outcome whose key drivers give the priority model its derived importance: overall
    #: satisfaction or likelihood to recommend (the codebook must name that question)
    drivers_outcome: Literal["overall", "recommend"] = "overall"
    #: how waves are compared: independent samples, or a panel (the same respondents, matched
    #: by id, their covariance in the change's variance)
    trend: Literal["independent", "panel"] = "independent"


class ValidationConfig(_Model):
    #: more rejected rows than this share (exclusions and dropped duplicate copies not counted)
    #: stops the run: more likely a wrong codebook than bad respondents
    max_rejected_share: float = Field(0.2, ge=0, le=1)
    #: a respondent id used more than once: reject every copy, or keep the first (last) copy in
    #: file order and set the others aside as duplicates
    duplicates: Literal["reject", "keep-first", "keep-last"] = "reject"


class BrandConfig(_Model):
    """The client's branding in the report: name, accent colour, optional logo (embedded)."""

    name: str | None = None
    accent: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$")
    logo: Path | None = None

    @field_validator("logo")
    @classmethod
    def _logo_kind(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in LOGO_TYPES:
            raise ValueError(f"{value}: a logo must be one of {', '.join(LOGO_TYPES)}")
        return value


#: the languages the report is written in (analysis.report.i18n.LOCALES has their formats)
Language = Literal["en", "de", "fr"]


class ReportConfig(_Model):
    #: the language of every word of the report, its charts and the email; number and date formats
    language: Language = "en"
    recipients: list[str] = Field(default_factory=list)
    brand: BrandConfig = Field(default_factory=BrandConfig)
    #: owner (as the codebook's items name them) -> who receives that owner's part of the plan
    owners: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("owners")
    @classmethod
    def _owner_emails(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for owner, emails in value.items():
            bad = [e for e in emails if not EMAIL.match(e)]
            if bad:
                raise ValueError(f"owner {owner!r}: not an email address: {', '.join(bad)}")
            if not emails:
                raise ValueError(f"owner {owner!r} lists no email address")
        return value

    @field_validator("recipients")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not EMAIL.match(v)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(map(repr, bad))}")
        return value


class RunConfig(_Model):
    """The contents of ``params/<client>.yaml``."""

    client: str
    title: str = Field(min_length=1)
    survey: Path
    survey_sheet: str | int | None = None  # .xlsx: the sheet's name or 0-based position
    codebook: Path
    design: DesignConfig = Field(default_factory=DesignConfig)
    weighting: WeightingConfig | None = None
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    #: params file(s) of earlier waves of the same survey, oldest first (one file or a list)
    previous: Path | list[Path] | None = None
    staff_survey: Path | None = None  # staff survey export (codebook section `staff`)

    @field_validator("client")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.match(value):
            raise ValueError(
                f"{value!r} is not a safe client slug: use lower-case letters, digits and '-', "
                "starting with a letter or digit (it becomes part of output paths)"
            )
        return value

    @field_validator("survey")
    @classmethod
    def _survey_kind(cls, value: Path) -> Path:
        if value.suffix.lower() not in SURVEY_SUFFIXES:
            raise ValueError(
                f"{value} is not a survey file type Outside-In reads ({', '.join(SURVEY_SUFFIXES)})"
            )
        return value

    @model_validator(mode="after")
    def _small_sample_taylor(self) -> RunConfig:
        w = self.weighting
        if w is not None and w.small_sample != "none" and self.design.variance != "taylor":
            raise ValueError(
                f"weighting.small_sample applies to Taylor variance; design.variance is "
                f"{self.design.variance}: choose one"
            )
        return self

    @property
    def previous_waves(self) -> list[Path]:
        """The earlier waves' params files, oldest first (empty: no trend)."""
        if self.previous is None:
            return []
        return [self.previous] if isinstance(self.previous, Path) else list(self.previous)


# ---------------------------------------------------------------------------------------------
# codebook


class Scale(_Model):
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.min >= self.max:
            raise ValueError(f"scale min ({self.min}) must be below max ({self.max})")
        return self


#: A code as written in the codebook: a number (``6``, ``-99``) or a text (``Don't know``).
Code = int | float | str


class Item(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    label: str = Field(min_length=1)
    dimension: str = Field(min_length=1)
    expectation: str = Field(min_length=1)
    performance: str = Field(min_length=1)
    #: this item's own missing-answer codes, added to the codebook's ``missing``
    missing: list[Code] = Field(default_factory=list)
    #: the department that can fix this attribute (the action plan groups items by owner)
    owner: str | None = Field(None, min_length=1)
    #: how much it takes to fix (quick wins: high priority, low effort)
    effort: Literal["low", "medium", "high"] | None = None


class Theme(_Model):
    """A theme of the open comments: the word stems that raise it and the items it speaks to."""

    words: list[str] = Field(min_length=1)
    items: list[str] = Field(default_factory=list)

    @field_validator("words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        words = [str(w).strip().lower() for w in value]
        if any(not w for w in words):
            raise ValueError("a theme word is empty")
        return words


class StaffSection(_Model):
    """A staff survey: staff rate what they believe customers expect, per codebook item."""

    id: str
    items: dict[str, str] = Field(min_length=1)  # item id -> staff column (customers' scale)
    duration: str | None = None


class Codebook(_Model):
    """The contents of a codebook YAML: which column holds what."""

    id: str
    scale: Scale
    items: list[Item] = Field(min_length=1)
    #: Segment column -> its values (codes as they appear in the data), in report order.
    segments: dict[str, list[str | int]] = Field(default_factory=dict)
    #: Segment column -> the name the report gives it (``Customer type`` for ``Q0_custtype``).
    segment_labels: dict[str, str] = Field(default_factory=dict)
    #: Segment column -> value -> the value's name in the report (``1`` -> ``Household``).
    value_labels: dict[str, dict[str, str]] = Field(default_factory=dict)
    overall: str | None = None
    recommend: str | None = None
    duration: str | None = None  # interview length in seconds, for the speeder flag
    staff: StaffSection | None = None  # optional staff survey (perception gap)
    #: Codes meaning "no answer" (``Don't know``, ``-99``): missing answers in every rating
    #: column, and in the 0-10 columns where they lie outside 0-10 (``6`` stays a score there).
    missing: list[Code] = Field(default_factory=list)
    #: Rows set aside before validation, with their reason: column -> the values that exclude
    #: a row (``Status: Survey Preview``; a value or a list).
    exclude: dict[str, list[str]] = Field(default_factory=dict)
    #: Columns of open comments (coded to themes; quotes redacted of personal data).
    comments: list[str] = Field(default_factory=list)
    #: Columns of personal data (names, emails, IP addresses, ...): never stored under
    #: data/processed or shown; names in them are redacted from the comments.
    personal: list[str] = Field(default_factory=list)
    #: Theme name -> its word stems (a list), or ``{words: [...], items: [item ids]}``.
    themes: dict[str, Theme] = Field(default_factory=dict)
    #: Column of each customer's value to the organisation (annual spend, margin, contract
    #: value; non-negative numbers): value-weighted gaps and NPS, key customers.
    value: str | None = None

    @field_validator("exclude", mode="before")
    @classmethod
    def _exclude_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: [str(x) for x in (v if isinstance(v, list) else [v])] for k, v in value.items()
            }
        return value

    @field_validator("themes", mode="before")
    @classmethod
    def _theme_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"words": v} if isinstance(v, list) else v for k, v in value.items()}
        return value

    @model_validator(mode="before")
    @classmethod
    def _segment_forms(cls, data: Any) -> Any:
        """Read each segment in either form: a list of values, or ``{label: ..., values: ...}``
        with the values as a list or as a mapping from each value to its display name."""
        if not isinstance(data, dict) or not isinstance(data.get("segments"), dict):
            return data
        # given beside the segments (a model_dump() round trip): kept, the inline forms win
        labels = dict(data.get("segment_labels") or {})
        value_labels = dict(data.get("value_labels") or {})
        values = {}
        for name, spec in data["segments"].items():
            try:
                values[name], label, names = _segment_spec(str(name), spec)
            except ValueError:  # reported, with its key, by _spec_values
                values[name], label, names = spec, None, {}
            if label is not None:
                labels[name] = label
            if names:
                value_labels[name] = names
        return {**data, "segments": values, "segment_labels": labels, "value_labels": value_labels}

    @field_validator("segments", mode="before")
    @classmethod
    def _spec_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _segment_spec(str(name), spec)[0] for name, spec in value.items()}
        return value

    @field_validator("segments")
    @classmethod
    def _levels(cls, value: dict[str, list[str | int]]) -> dict[str, list[str | int]]:
        for name, levels in value.items():
            if not levels:
                raise ValueError(f"segment {name!r} lists no values")
            if len(set(map(str, levels))) != len(levels):
                raise ValueError(f"segment {name!r} lists a value twice")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Codebook:
        ids = [i.id for i in self.items]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"item ids used twice: {', '.join(dup)}")
        cols = [*self.rating_columns(), self.id, *self.segments]
        cols += [c for c in (self.overall, self.recommend) if c]
        cols += [*self.comments, *self.personal]
        cols += [self.value] if self.value else []
        dup = sorted({c for c in cols if cols.count(c) > 1})
        if dup:
            raise ValueError(f"columns given more than one role: {', '.join(dup)}")
        for name, theme in self.themes.items():
            unknown = sorted(set(theme.items) - set(ids))
            if unknown:
                raise ValueError(
                    f"theme {name!r} names items not in the codebook: {', '.join(unknown)}"
                )
        if self.themes and not self.comments:
            raise ValueError("themes are given but no comment columns: name them in comments")
        if self.staff is not None:
            unknown = sorted(set(self.staff.items) - set(ids))
            if unknown:
                raise ValueError(f"staff items not in the codebook's items: {', '.join(unknown)}")
            cols = list(self.staff.items.values())
            dup = sorted({c for c in cols if cols.count(c) > 1} | ({self.staff.id} & set(cols)))
            if dup:
                raise ValueError(f"staff columns given more than one role: {', '.join(dup)}")
        return self

    def segment_label(self, column: str) -> str:
        """The name the report gives a segment column (the column name when none is given)."""
        return self.segment_labels.get(column, column)

    def value_label(self, column: str, value: Any) -> str:
        """The name the report gives a segment value (the value itself when none is given)."""
        return self.value_labels.get(column, {}).get(str(value), str(value))

    def staff_questionnaire(self) -> StaffQuestionnaire:
        """The staff survey's columns and rules, for validation (needs a ``staff`` section)."""
        if self.staff is None:
            raise ValueError("the codebook has no staff section")
        return StaffQuestionnaire(
            id=self.staff.id,
            scale=self.scale,
            items=dict(self.staff.items),
            duration=self.staff.duration,
            missing=list(self.missing),
        )

    def rating_columns(self) -> list[str]:
        """Expectation and performance columns of every item, in codebook order."""
        return [c for i in self.items for c in (i.expectation, i.performance)]

    def score_columns(self) -> list[str]:
        """The 0-10 columns (overall satisfaction, recommend) that the codebook names."""
        return [c for c in (self.overall, self.recommend) if c]

    def missing_codes(self, column: str) -> list[Code]:
        """The missing-answer codes of a rating column: the codebook's and its item's own."""
        own = [c for i in self.items if column in (i.expectation, i.performance) for c in i.missing]
        return list(dict.fromkeys([*self.missing, *own]))

    def columns(self) -> list[str]:
        """Every data column the codebook names."""
        return [
            self.id,
            *self.rating_columns(),
            *self.segments,
            *self.score_columns(),
            *self.comments,
            *self.personal,
            *self.exclude,
            *([self.value] if self.value else []),
        ]

    def owners(self) -> list[str]:
        """The owners the items name, in codebook order without repeats."""
        return list(dict.fromkeys(i.owner for i in self.items if i.owner))


def _segment_spec(name: str, spec: Any) -> tuple[Any, str | None, dict[str, str]]:
    """A segment entry of the codebook as (values, display label, value display names)."""
    if not isinstance(spec, dict):
        return spec, None, {}
    unknown = sorted(set(map(str, spec)) - {"label", "values"})
    if unknown or "values" not in spec:
        raise ValueError(
            f"segment {name!r}: write its values as a list (segments: {{{name}: [A, B]}}) or as "
            f"{{label: Display name, values: [A, B]}}"
            + (f"; unknown key(s): {', '.join(unknown)}" if unknown else "; 'values' is missing")
        )
    label = spec.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise ValueError(f"segment {name!r}: 'label' must be a text, e.g. label: Customer type")
    values = spec["values"]
    names: dict[str, str] = {}
    if isinstance(values, dict):
        for code, text in values.items():
            if not isinstance(text, str) or not text.strip():
                raise ValueError(
                    f"segment {name!r}: value {code!r} needs a display name, e.g. {code}: Household"
                )
            names[str(code)] = text.strip()
        values = list(values)
    return values, (label.strip() if label else None), names


@dataclass(frozen=True)
class StaffQuestionnaire:
    """The staff survey seen as a questionnaire to validate: an id, one rating per item on the
    customers' scale, no segments and no 0-10 scores (the interface :mod:`analysis.intake.schema`
    uses)."""

    id: str
    scale: Scale
    items: dict[str, str]
    duration: str | None = None
    segments: dict[str, list[str | int]] = field(default_factory=dict)
    missing: list[Code] = field(default_factory=list)  # the codebook's missing-answer codes
    exclude: dict[str, list[str]] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)
    value: str | None = None

    def missing_codes(self, column: str) -> list[Code]:
        return list(self.missing)

    def rating_columns(self) -> list[str]:
        return list(self.items.values())

    def score_columns(self) -> list[str]:
        return []

    def columns(self) -> list[str]:
        return [self.id, *self.rating_columns()]


# ---------------------------------------------------------------------------------------------
# loading


@dataclass(frozen=True)
class Client:
    """One client's validated params and codebook, with paths resolved against the project root."""

    config: RunConfig
    codebook: Codebook
    params_file: Path
    root: Path

    @property
    def slug(self) -> str:
        return self.config.client

    @property
    def survey_path(self) -> Path:
        return self.root / self.config.survey

    @property
    def codebook_path(self) -> Path:
        return self.root / self.config.codebook

    @property
    def margins_path(self) -> Path | None:
        w = self.config.weighting
        return None if w is None else self.root / w.margins

    @property
    def staff_path(self) -> Path | None:
        s = self.config.staff_survey
        return None if s is None else self.root / s

    @property
    def processed_dir(self) -> Path:
        return self.root / "data" / "processed" / self.slug

    @property
    def report_dir(self) -> Path:
        return self.root / "reports" / self.slug

    def input_files(self) -> dict[str, Path]:
        """The input files of a run, by role (for hashes in the manifest)."""
        files = {
            "params": self.params_file,
            "survey": self.survey_path,
            "codebook": self.codebook_path,
        }
        if self.margins_path is not None:
            files["margins"] = self.margins_path
        if self.config.report.brand.logo is not None:
            files["logo"] = self.root / self.config.report.brand.logo
        if self.staff_path is not None:
            files["staff_survey"] = self.staff_path
        return files


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ParamsError(f"{path}: {what} file not found")
    try:
        data = yamlfile.load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ParamsError(f"{path}: not valid YAML{where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of keys to values at the top level")
    return data


UNION_TAG = re.compile(r"[\[\]\-]|^(str|int|float|bool|list|dict|none|Path)$")


def _explain(path: Path, model: type[BaseModel], exc: ValidationError) -> ParamsError:
    lines: dict[str, list[str]] = {}  # key -> messages (a union gives one per alternative)
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or not UNION_TAG.search(p))
        key = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            parent = _submodel(model, loc[:-1])
            known = ", ".join(parent.model_fields) if parent else ""
            text = f"unknown key '{key}'" + (f" (known keys here: {known})" if known else "")
        elif err["type"] == "missing":
            text = f"missing required key '{key}'"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
            text = f"{msg}{shown}" if not loc else f"key '{key}': {msg}{shown}"
        lines.setdefault(key, []).append(text)
    parts = [
        msgs[0] + "".join(f", or {m.split(': ', 1)[-1]}" for m in msgs[1:])
        for msgs in lines.values()
    ]
    return ParamsError(f"{path}: " + "; ".join(parts))


def _submodel(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return None
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return None
    return current


def _check_inputs(params_file: Path, root: Path, config: RunConfig) -> None:
    """Every input the params name is a regular file (a directory or FIFO named as such), the
    previous wave is not this params file, and the logo's content is an image."""
    inputs = {"survey": config.survey, "codebook": config.codebook}
    if config.weighting is not None:
        inputs["weighting.margins"] = config.weighting.margins
    if config.report.brand.logo is not None:
        inputs["report.brand.logo"] = config.report.brand.logo
    waves = config.previous_waves
    for k, wave in enumerate(waves):
        inputs["previous" if len(waves) == 1 else f"previous[{k}]"] = wave
    if config.staff_survey is not None:
        inputs["staff_survey"] = config.staff_survey
    for key, rel in inputs.items():
        problem = files.not_a_file(root / rel)
        if problem is not None:
            where = f" (paths resolve against the project root {root})"
            raise ParamsError(
                f"{params_file}: key '{key}': file {rel} not found{where}"
                if problem == "not found"
                else f"{params_file}: key '{key}': {rel} {problem}; name the file itself"
            )
    for wave in waves:
        if _same_file(root / wave, params_file):
            raise ParamsError(
                f"{params_file}: key 'previous': {wave} is this params file itself (a wave "
                "compared with itself); name the params file of an earlier wave"
            )
    logo = config.report.brand.logo
    if logo is not None:
        try:
            check_logo(root / logo)
        except ValueError as exc:
            raise ParamsError(f"{params_file}: key 'report.brand.logo': {exc}") from None


def _same_file(a: Path, b: Path) -> bool:
    """The same file, through whatever path or link (both exist)."""
    try:
        return a.samefile(b)
    except OSError:
        return a.resolve() == b.resolve()


def load_codebook(path: Path) -> Codebook:
    """Read and check a codebook YAML file."""
    path = Path(path)
    data = _read_yaml(path, "codebook")
    try:
        return Codebook.model_validate(data)
    except ValidationError as exc:
        raise _explain(path, Codebook, exc) from None


def load_client(params_file: str | Path, root: str | Path | None = None) -> Client:
    """Read ``params/<client>.yaml`` and its codebook, and check that they fit together.

    Parameters
    ----------
    params_file
        Path of the params file (relative to ``root`` or absolute).
    root
        The project root against which relative paths resolve; the working directory by default.
    """
    root = Path(root) if root is not None else Path.cwd()
    params_file = Path(params_file)
    if not params_file.is_absolute():
        params_file = root / params_file
    data = _read_yaml(params_file, "params")
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(params_file, RunConfig, exc) from None

    _check_inputs(params_file, root, config)
    codebook = load_codebook(root / config.codebook)
    if config.staff_survey is not None and codebook.staff is None:
        raise ParamsError(
            f"{params_file}: key 'staff_survey': the codebook {config.codebook} has no 'staff' "
            "section saying which staff column rates which item"
        )
    unknown = [b for b in config.analysis.by if b not in codebook.segments]
    if unknown:
        raise ParamsError(
            f"{params_file}: key 'analysis.by': {', '.join(map(repr, unknown))} not a segment of "
            f"the codebook {config.codebook} (segments: {', '.join(codebook.segments) or 'none'})"
        )
    outcome = config.analysis.drivers_outcome
    if outcome != "overall" and getattr(codebook, outcome) is None:
        raise ParamsError(
            f"{params_file}: key 'analysis.drivers_outcome': {outcome} needs the codebook "
            f"{config.codebook} to name that question ({outcome}: <column>)"
        )
    unknown = sorted(set(config.report.owners) - set(codebook.owners()))
    if unknown:
        raise ParamsError(
            f"{params_file}: key 'report.owners': {', '.join(map(repr, unknown))} own no item of "
            f"the codebook {config.codebook} (owners: {', '.join(codebook.owners()) or 'none'}); "
            "give items an owner, or use the owners' names as the codebook writes them"
        )
    clash = [c for c in config.design.columns() if c in codebook.rating_columns()]
    if clash:
        raise ParamsError(
            f"{params_file}: key 'design': columns {', '.join(clash)} are rating items in the "
            "codebook; name the design's own columns"
        )
    return Client(config=config, codebook=codebook, params_file=params_file, root=root)
