"""Run settings: defaults < recipe YAML < command-line options; budgets like ``90s``, ``3m``, ``2h``, ``1h30m``.

Light module (no torch): the CLI validates every option here before any heavy import, so a bad
option fails in milliseconds with one clear message (exit code 2).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hf_quicktune.errors import ConfigError
from hf_quicktune.run.schedule import DEFAULT_MAX_EPOCHS

#: ``hf-quicktune demo`` and the Space's search form start from these: builtin:digits, the offline zoo (real
#: ImageNet EfficientNet-Lite0/1/2 and random-init baselines), 3 minutes at 32 px on every training image (1,438;
#: a 256-image cap left the best trial data-starved near 50 %), 10-epoch schedules, sized for 2 CPU cores
#: (benchmarks/product_vs_finetune.py prints the demo's accuracy and time, benchmarks/space_search.py the
#: Space's beside it)
DEMO_SETTINGS: dict[str, Any] = {
    "dataset": "builtin:digits", "zoo": "offline", "budget": "3m", "output_dir": "quicktune-demo",
    "image_size": 32, "max_epochs": 10, "pool_size": 32, "rank_samples": 100, "seed": 0,
}

#: unit words a budget may use, as ``date``, Slurm and people write them (``90s``, ``30 min``, ``2 hours``, ``1d``)
_UNIT_WORDS = {
    1.0: ("seconds", "second", "secs", "sec", "s"),
    60.0: ("minutes", "minute", "mins", "min", "m"),
    3600.0: ("hours", "hour", "hrs", "hr", "h"),
    86400.0: ("days", "day", "d"),
}
_UNIT = {"": 1.0, **{word: seconds for seconds, words in _UNIT_WORDS.items() for word in words}}
_BUDGET_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(" + "|".join(sorted(filter(None, _UNIT), key=len, reverse=True)) + ")?")

#: Score names the ranking computes by default (their ensemble orders the candidates).
DEFAULT_SCORES = ("lfc", "logme", "knn")


def parse_budget(text: str | int | float | None, what: str = "budget") -> float | None:
    """Seconds in a budget string: ``"90"``/``"90s"``, ``"3m"``, ``"2h"``, ``"1h30m"``, ``"1.5h"``, ``"2 hours"``,
    ``"1 hour, 30 min"``, ``"1d"``, a clock's ``"1:30:00"`` or Slurm's ``"1-12:00:00"``; ``what`` names it in the
    error (e.g. ``--time-limit``)."""
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    elif ":" in str(text) or re.fullmatch(r"\s*\d+-\d+.*", str(text)):
        seconds = _clock_seconds(str(text), what)
    else:
        # "1 hour, 30 min": a comma may follow a unit (not a digit: "1,5h" is no budget)
        s = re.sub(r"(?<=[a-z]),", "", str(text).strip().lower()).replace(" ", "")
        pos, seconds, parts = 0, 0.0, []
        for m in _BUDGET_RE.finditer(s):
            if m.start() != pos:
                break
            parts.append(m.group(2))
            seconds += float(m.group(1)) * _UNIT[m.group(2) or ""]
            pos = m.end()
        split_number = re.search(r"[\d.]\s+[\d.]", str(text))  # "1 30": one number or two?
        if not s or pos != len(s) or (len(parts) > 1 and None in parts) or split_number:  # "1h30": which unit?
            raise ConfigError(
                f"invalid {what} {text!r}: use a number of seconds or a duration such as 90s, 30m, 2h, 1h30m or "
                "'2 hours'."
            )
    if seconds <= 0:
        raise ConfigError(f"invalid {what} {text!r}: it must be positive (e.g. 30m).")
    return seconds


#: a job's time as Slurm's ``--time`` and ``date`` write it: ``H:MM:SS``, ``D-H:MM:SS``, ``D-H:MM``, ``D-H``
_CLOCK_RE = re.compile(r"^(?:(?P<d>\d+)-)?(?P<h>\d+):(?P<m>[0-5]\d):(?P<s>[0-5]\d)$|^(?P<d2>\d+)-(?P<h2>\d+)(?::(?P<m2>[0-5]\d))?$")


def _clock_seconds(text: str, what: str) -> float:
    """Seconds in a clock-style budget (``1:30:00``, ``2-00:00:00``); ``1:30`` is refused: hours and minutes to
    some, Slurm's minutes and seconds to others."""
    m = _CLOCK_RE.match(text.strip())
    if m is None:
        raise ConfigError(f"invalid {what} {text!r}: write a time as H:MM:SS (1:30:00) or D-H:MM:SS (Slurm's "
                          "--time), or a duration such as 90m or 1h30m (1:30 could be 1 h 30 min or, as Slurm "
                          "reads it, 1 min 30 s).")
    days, hours, minutes, secs = (int(m[g] or 0) for g in (("d", "h", "m", "s") if m["h"] else ("d2", "h2", "m2", "s")))
    return float(((days * 24 + hours) * 60 + minutes) * 60 + secs)


def format_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.1f}m"
    return f"{seconds / 3600:.2f}h"


def _repo_recipes() -> Path:
    from hf_quicktune.constants import recipes_dir

    return recipes_dir()


def resolve_recipe_file(path: str | Path, kind: str = "recipe") -> Path:
    """``path`` as given (relative to the working directory), else as shipped with hf-quicktune:
    ``recipes/spaces/quicktune.yaml``, ``spaces/quicktune.yaml``, ``quicktune`` (a space name)."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    recipes = _repo_recipes()
    for cand in (recipes.parent / p, recipes / p, recipes / f"{p}.yaml", recipes / "spaces" / p.name,
                 recipes / "spaces" / f"{p}.yaml"):
        if cand.is_file():
            return cand
    raise ConfigError(f"{kind} file {str(path)!r} not found. Pass an existing YAML path (see recipes/ for examples).")


@dataclass
class RunSettings:
    """Every option of ``hf-quicktune run`` (a recipe YAML uses the same keys, with - or _)."""

    dataset: str | None = None
    # the dataset options (hf_quicktune.data.options.DATASET_OPTIONS, shared with every command): None = detected/default
    dataset_config: str | None = None
    revision: str | None = None
    split: dict[str, str] | None = None  # our role -> the dataset's split name, e.g. {"validation": "dev"}
    image_column: str | None = None
    label_column: str | None = None
    class_names: list[str] | None = None  # an integer label column's class names, in id order
    group_column: str | None = None  # whole groups (patients) held out; "none": images; None: detected
    val_fraction: float | None = None
    test_fraction: float | None = None
    zoo: str = "default"
    budget: str | None = None
    max_trials: int | None = None
    max_epochs_total: int | None = None
    prior: str | None = "default"  # the prior shipped in the package; "none" = search without one
    space: str = "recipes/spaces/quicktune.yaml"
    # a trial's schedule length; None: 50, or fewer when --budget cannot finish that (hf_quicktune.run.schedule),
    # resolved once when the run starts and stored in settings.json
    max_epochs: int | None = None
    # the share of the training images each epoch of the trials trains on: 1, or less when a budget too small to
    # search buys whole epochs and a part (the one fine-tune's epochs then share that part; run/schedule.py);
    # fitted with max_epochs and stored with it, not an option
    epoch_fraction: float = 1.0
    top_k: int = 8
    output_dir: str | None = None
    push_to_hub: str | None = None
    private: bool = False
    seed: int = 0
    image_size: int | None = None
    train_limit: int | None = None
    eval_limit: int | None = None
    pool_size: int = 128
    rank_samples: int = 256
    scores: list[str] = field(default_factory=lambda: list(DEFAULT_SCORES))
    allow_pickle: bool = False
    estimate_cost: bool = True  # time training steps per candidate: the cost model's prior (run/cost_prior.py)
    # zero-cost scores as model features of a surrogate without a prior: off, no gain measured
    # (benchmarks/run_ablation.py --flag score-features)
    score_features: bool = False
    acquisition: str = "ei_per_cost"
    horizon: str = "next"
    initial_epochs: int | None = None  # epochs a new trial trains before it is compared again; None: the prior's
    # the validation metric trials are selected on (train/metrics.METRICS): the optimizer's score, each trial's
    # best epoch, the winner, the quality gate
    metric: str = "top1"
    min_accuracy: float | None = None  # quality gate: below this validation score (the metric), exit 2, no push
    workers: int = 1  # trials trained at once; > 1 runs them on Ray (one actor per worker)
    ray_address: str | None = None  # join this Ray cluster ("auto", "ray://host:port") instead of a local one

    # keys a resumed run may change: limits, publishing, the quality gate, and the acquisition and
    # horizon (the optimizer is rebuilt from the settings each session; its saved state does not pin them)
    RESUMABLE_OVERRIDES = ("budget", "max_trials", "max_epochs_total", "push_to_hub", "private", "min_accuracy",
                           "acquisition", "horizon", "workers", "ray_address")
    #: why the other keys cannot change on resume (default: the trials on disk were trained with them)
    RESUME_REFUSALS = {
        "initial_epochs": "the optimizer's saved state counts new trials' first epochs with it",
        "estimate_cost": "the optimizer's cost model was fitted with (or without) that prior from the start",
        "score_features": "the optimizer's surrogate was built with (or without) them",
        "pool_size": "the configuration pool (pool.json) was sampled with it",
        "space": "the configuration pool (pool.json) was sampled from it",
        "seed": "the pool, the data subsets and every trial were drawn with it",
        "prior": "the optimizer's surrogate was built from it",
        "zoo": "the ranking (ranking.json) and the trials were made from its candidates",
        "top_k": "the ranking kept that many candidates and the pool was built from them",
        "scores": "the ranking (ranking.json) was computed with them",
        "rank_samples": "the ranking (ranking.json) was computed with them",
        "dataset": "every trial was trained on it",
        "metric": "the optimizer's observations and every trial's best epoch were measured in it",
    }

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "budget":  # parsed once, when set (by __init__, or a resume's override); not a field
            try:
                parsed: float | ConfigError | None = parse_budget(value)
            except ConfigError as err:  # raised by budget_s / validate(), in their order of checks
                parsed = err
            self.__dict__["_budget_s"] = parsed

    @property
    def budget_s(self) -> float | None:
        """The wall-clock budget in seconds (None: no budget), parsed from ``budget`` when it was set."""
        parsed = self.__dict__["_budget_s"]
        if isinstance(parsed, ConfigError):
            raise parsed
        return parsed

    @property
    def schedule_epochs(self) -> int:
        """The trials' schedule length in force: ``max_epochs``, or the space's 50 before a run has fitted
        it to its budget (:mod:`hf_quicktune.run.schedule`)."""
        return DEFAULT_MAX_EPOCHS if self.max_epochs is None else int(self.max_epochs)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def validate(self) -> RunSettings:
        """Check types and ranges; raise :class:`ConfigError` naming the option and what to do."""
        if not self.dataset:
            raise ConfigError("no dataset given. Pass --dataset (a Hub id, a folder, a file or builtin:digits) "
                              "or a --recipe that sets `dataset`.")
        from hf_quicktune.data.hub_source import hub_reference
        from hf_quicktune.data.options import normalize

        for key, value in normalize(self.to_dict()).items():  # dataset options: checked, split map as a dict
            setattr(self, key, value)
        reference = None if Path(str(self.dataset)).expanduser().exists() else hub_reference(str(self.dataset))
        if reference is not None:  # a dataset page's URL, timm's hfds/...: the run, its card and summary name the id
            self.dataset, self.revision = reference[0], self.revision or reference[1]
        self.budget_s  # noqa: B018 - raises the ConfigError of an invalid budget
        if self.budget is None and self.max_trials is None and self.max_epochs_total is None:
            raise ConfigError("no budget given. Pass --budget (e.g. 30m), --max-trials or --max-epochs-total.")
        for name, lo in (("max_trials", 1), ("max_epochs_total", 1), ("max_epochs", 1), ("top_k", 1),
                         ("pool_size", 1), ("initial_epochs", 1), ("rank_samples", 2), ("image_size", 8), ("train_limit", 1),
                         ("eval_limit", 1), ("workers", 1)):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"--{name.replace('_', '-')} must be an integer, got {value!r}.")
            if value < lo:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= {lo}, got {value}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"--seed must be an integer, got {self.seed!r}.")
        fraction = self.epoch_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
            raise ConfigError(f"epoch_fraction must be in (0, 1], got {fraction!r} (settings.json's value is fitted "
                              "by the run; remove the key to train whole epochs).")
        from hf_quicktune.hub import model_repo_from_page

        page = model_repo_from_page(self.push_to_hub or "")
        if page:  # the model page's URL, copied from the browser
            self.push_to_hub = page
        if self.push_to_hub is not None and not re.fullmatch(r"([\w.-]+/)?[\w.-]+", self.push_to_hub):
            raise ConfigError(f"--push-to-hub {self.push_to_hub!r} is not a repo id; use the form org/model-name "
                              "(or model-name: your own namespace).")
        from hf_quicktune.train.metrics import METRICS

        for name, allowed in (("acquisition", ("ei_per_cost", "ei", "ucb")), ("horizon", ("next", "max")),
                              ("metric", tuple(METRICS))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"--{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}.")
        if self.min_accuracy is not None:
            value = self.min_accuracy
            if isinstance(value, str):
                text = value.strip()
                try:
                    value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
                except ValueError:
                    raise ConfigError(f"--min-accuracy must be a fraction such as 0.9 (or 90%), got {text!r}.") from None
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                hint = f" (did you mean {value / 100:g}?)" if isinstance(value, int | float) and 1 < value <= 100 else ""
                raise ConfigError(f"--min-accuracy is a fraction in [0, 1] of the validation --metric, got "
                                  f"{self.min_accuracy!r}"
                                  f"{hint}.")
            self.min_accuracy = float(value)
        if self.initial_epochs is not None and self.max_epochs is not None and self.initial_epochs > self.max_epochs:
            raise ConfigError(f"--initial-epochs {self.initial_epochs} is more than --max-epochs {self.max_epochs}; "
                              "lower it (1 is the paper's setting).")
        if self.horizon == "max" and str(self.prior or "none").lower() in ("none", "no", "off", ""):
            raise ConfigError("--horizon max extrapolates learning curves, which needs a meta-learned --prior "
                              "(train one with `hf-quicktune meta train`); or use --horizon next.")
        resolve_recipe_file(self.space, "search space")
        if isinstance(self.scores, str):
            self.scores = [s.strip() for s in self.scores.split(",") if s.strip()]
        if not self.scores:
            raise ConfigError("`scores` is empty: name at least one zero-cost score (e.g. lfc, logme, knn).")
        return self


#: YAML 1.1's base-60 numbers (``1:30`` is 90 to PyYAML, ``1:30:00`` 5400)
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")


def _recipe_loader() -> type:
    """PyYAML's safe loader with base-60 numbers read as text: ``budget: 1:30`` reaches :func:`parse_budget` as
    written (ambiguous: refused) instead of as 90 seconds, and ``budget: 1:30:00`` as a clock."""
    import yaml

    class RecipeLoader(yaml.SafeLoader):
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode and implicit[0] and _SEXAGESIMAL.match(value):
                return "tag:yaml.org,2002:str"
            return super().resolve(kind, value, implicit)

    return RecipeLoader


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a run recipe: a YAML mapping with the keys of :class:`RunSettings` (``-`` or ``_``)."""
    import yaml

    file = resolve_recipe_file(path)
    try:
        data = yaml.load(file.read_text(), Loader=_recipe_loader()) or {}  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(f"recipe {file} is not valid YAML ({err}). Fix the file.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {file} must be a mapping of option: value, got {type(data).__name__}.")
    known = set(RunSettings.keys())
    out: dict[str, Any] = {}
    for key, value in data.items():
        norm = str(key).replace("-", "_")
        if norm not in known:
            import difflib

            close = difflib.get_close_matches(norm, sorted(known), n=1)
            raise ConfigError(
                f"recipe {file}: unknown key {key!r}." + (f" Did you mean {close[0]!r}?" if close else "")
                + f" Known keys: {', '.join(sorted(known))}."
            )
        out[norm] = value
    return out


def resolve_settings(cli_values: dict[str, Any], recipe: str | Path | None = None) -> RunSettings:
    """Defaults, then the recipe's values, then the options given on the command line (None = not given)."""
    values: dict[str, Any] = {}
    if recipe is not None:
        values.update(load_recipe(recipe))
    values.update({k: v for k, v in cli_values.items() if v is not None and v != ()})  # () = repeatable option not given
    for key in ("budget",):
        if isinstance(values.get(key), int | float) and not isinstance(values.get(key), bool):
            values[key] = f"{values[key]}s"
    return RunSettings(**values).validate()


def check_output_dir(path: str | Path | None, option: str = "--output-dir") -> None:
    """Fail in milliseconds, with the fix, when a command could not write to the folder ``path`` (default
    ``runs/``): a file there, a file on the way there, or a folder this user cannot write to (tried for real)."""
    target = Path(path or "runs").expanduser()
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{option} {target} is a file, not a folder.", input=str(target), code="bad_output_dir",
                          fix=f"Pass a folder path (it is created if missing), e.g. {option} runs/my-run.")
    _check_creatable(target, target, option, "runs/my-run")


def check_output_file(path: str | Path, option: str) -> None:
    """Like :func:`check_output_dir` for a file written at the end (a plot): not a folder, its folder writable."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise ConfigError(f"{option} {target} is a folder, not a file name.", input=str(target), code="bad_output_file",
                          fix=f"Pass a file name, e.g. {option} {target / 'plot.png'}.")
    _check_creatable(target, target.parent, option, "plots/plot.png")


def _check_creatable(target: Path, folder: Path, option: str, example: str) -> None:
    """``target`` can be written: ``folder`` (or its nearest existing ancestor) is a folder this user can write to."""
    import tempfile

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{option} {target} cannot be created: {existing} is a file, not a folder.",
                          input=str(target), code="bad_output_dir",
                          fix=f"Pass a path whose parents are folders, e.g. {option} {example}.")
    try:
        with tempfile.TemporaryDirectory(dir=existing, prefix=".hfqt-write-check-"):
            pass
    except OSError as err:
        raise ConfigError(f"{option} {target} cannot be written: creating a folder in {existing} failed "
                          f"({err.strerror or type(err).__name__}).", input=str(target), code="output_dir_not_writable",
                          fix=f"Pass a folder you can write to, e.g. {option} ./{example}, or fix its permissions.") from None
