"""One setting of a sweep, written as a short string:

    METHOD[-OPERATOR][-ASSIGNMENT][@ETA][:KEY=VALUE]...

METHOD, OPERATOR and ASSIGNMENT are names from the registries of `vast.common.algorithms` (so every
method, operator Ψ and assignment strategy X registered there, including ones added later, can be
named); OPERATOR and ASSIGNMENT only follow `vast`, and default to qtran and metagrad. ETA is a number
or a fraction (`@0.25`, `@1/4`; default: the config's). Each `:KEY=VALUE` sets any other config key.
Examples: `vast-qtran@0.25`, `vast-qmix-spatial@1/2`, `vast-il@0.5` (the paper's VAST-IL, i.e. the
independent operator), `qmix`, `il`, `vast-qtran@0.25:algo.return_norm=batch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from vast.common.algorithms import ASSIGNMENTS, METHODS, OPERATORS
from vast.common.config import AlgoConfig, Config, ConfigError, set_key

_SAFE = re.compile(r"[^A-Za-z0-9@._=+-]")


@dataclass(frozen=True)
class Setting:
    method: str
    operator: str = ""  # vast only (canonical registry names)
    assignment: str = ""  # vast only
    eta: float | None = None  # vast only; None: the config default
    overrides: tuple[tuple[str, str], ...] = field(default=())

    # -- names ------------------------------------------------------------------------------------------
    def canonical(self) -> str:
        """The one spelling of this setting: what run directories are named after."""
        text = self.method
        if self.method == "vast":
            text += f"-{self.operator}-{self.assignment}@{_number(self.eta_value)}"
        return text + "".join(f":{k}={v}" for k, v in self.overrides)

    def slug(self) -> str:
        """The canonical spelling, safe as a folder name (`:` becomes `+`)."""
        return _SAFE.sub("_", self.canonical().replace(":", "+"))

    @property
    def eta_value(self) -> float:
        return AlgoConfig().eta if self.eta is None else self.eta

    def label(self) -> str:
        """A readable name for plots: `VAST-QTRAN-Spatial (η=1/4)`, `QMIX`, with overrides appended."""
        if self.method == "vast":
            parts = ["VAST", _pretty(self.operator)]
            if self.assignment != "metagrad":
                parts.append(_pretty(self.assignment))
            text = "-".join(parts) + f" (η={_fraction(self.eta_value)})"
        else:
            text = self.method.upper()
        if self.overrides:
            text += " [" + ", ".join(f"{k.split('.')[-1]}={v}" for k, v in self.overrides) + "]"
        return text

    # -- config -----------------------------------------------------------------------------------------
    def apply(self, cfg: Config) -> None:
        """Write this setting into a config (validated by the caller)."""
        cfg.algo.algo = self.method
        cfg.algo.mixer = self.operator
        cfg.algo.assign = self.assignment
        if self.eta is not None:
            cfg.algo.eta = self.eta
        for key, value in self.overrides:
            set_key(cfg, key, value)

    def with_overrides(self, extra) -> Setting:
        """This setting with `extra` config keys (pairs or a dict) added, winning over its own: `--set` makes
        another setting, so its runs get their own directories instead of clashing with the plain ones."""
        merged = dict(self.overrides)
        merged.update(extra)
        return Setting(self.method, self.operator, self.assignment, self.eta, tuple(sorted(merged.items())))


def parse_setting(text: str) -> Setting:
    """`vast-qmix-spatial@0.25:algo.lr=0.0005` -> Setting; ConfigError with the choices if unknown."""
    body, *extras = text.strip().split(":")
    overrides = tuple(sorted(_override(e, text) for e in extras))
    name, _, eta_text = body.partition("@")
    method, _, rest = name.partition("-")
    if method not in METHODS:
        raise ConfigError(
            f"setting {text!r}: unknown method {method!r}; methods: {', '.join(METHODS.names())}"
        )
    method = METHODS.canonical(method)
    if method != "vast":
        if rest or eta_text:
            raise ConfigError(
                f"setting {text!r}: {method} is a flat method (no operator, assignment or @eta)"
            )
        return Setting(method, overrides=overrides)
    operator, assignment = _split_rest(rest, text)
    eta = _eta(eta_text, text) if eta_text else AlgoConfig().eta
    return Setting("vast", operator or "qtran", assignment or "metagrad", eta, overrides)


def parse_settings(text: str) -> list[Setting]:
    """A comma-separated list of settings, duplicates removed (first occurrence kept)."""
    seen: dict[str, Setting] = {}
    for part in text.split(","):
        if part.strip():
            setting = parse_setting(part)
            seen.setdefault(setting.canonical(), setting)
    if not seen:
        raise ConfigError("no settings given")
    return list(seen.values())


def parse_override(text: str) -> tuple[str, str]:
    return _override(text, text)


def _override(item: str, whole: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"setting {whole!r}: {item!r} must look like section.key=value")
    key = key.strip()
    set_key(Config(), key, value.strip())  # unknown keys and bad values fail here, with the reason
    return key, value.strip()


def _split_rest(rest: str, whole: str) -> tuple[str, str]:
    """`qmix-spatial` -> (qmix, spatial): try every split point against both registries, so names that
    contain dashes work too; exactly one reading must fit."""
    if not rest:
        return "", ""
    tokens = rest.split("-")
    readings = []
    for i in range(len(tokens) + 1):
        operator, assignment = "-".join(tokens[:i]), "-".join(tokens[i:])
        if (not operator or operator in OPERATORS) and (not assignment or assignment in ASSIGNMENTS):
            readings.append((operator, assignment))
    if len(readings) != 1:
        why = "is ambiguous" if readings else "names no known operator/assignment"
        raise ConfigError(
            f"setting {whole!r}: {rest!r} {why}; operators: {', '.join(OPERATORS.names())}; "
            f"assignments: {', '.join(ASSIGNMENTS.names())}"
        )
    operator, assignment = readings[0]
    return (
        OPERATORS.canonical(operator) if operator else "",
        ASSIGNMENTS.canonical(assignment) if assignment else "",
    )


def _eta(text: str, whole: str) -> float:
    try:
        value = float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"setting {whole!r}: eta {text!r} is not a number or fraction") from None
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"setting {whole!r}: eta must be in (0, 1], got {value}")
    return value


def _number(x: float) -> str:
    return f"{x:g}"


def _fraction(x: float) -> str:
    f = Fraction(x).limit_denominator(64)
    return f"{f.numerator}/{f.denominator}" if abs(float(f) - x) < 1e-9 and f.denominator > 1 else _number(x)


_PRETTY = {"metagrad": "MetaGrad", "independent": "IL", "qtran": "QTRAN", "qmix": "QMIX", "vdn": "VDN"}


def _pretty(name: str) -> str:
    return _PRETTY.get(name, name.capitalize())
