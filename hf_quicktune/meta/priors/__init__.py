"""The priors shipped inside the package, and the one way every caller resolves ``--prior``.

``default`` is ``quicktune-extended``: meta-trained on the Quick-Tune paper's extended meta-dataset
(4,665 real fine-tuning curves of 24 pretrained timm models on 26 Meta-Album datasets), with the
models described by :mod:`hf_quicktune.zoo.descriptors` so it informs searches over any model.
Rebuilt by ``python tools/build_default_prior.py`` (the command and the data's provenance are in
its ``prior.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hf_quicktune.errors import MetaError

SHIPPED_DIR = Path(__file__).resolve().parent
DEFAULT = "quicktune-extended"
NO_PRIOR = ("none", "no", "off", "")


def shipped() -> list[str]:
    """Names of the priors inside the package."""
    return sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "prior.json").is_file())


def prior_label(spec: str | None) -> str | None:
    """What a run records for a ``--prior`` value without loading it: None for no prior, the shipped
    prior's name for ``default``, else the value as given."""
    if spec is None or str(spec).strip().lower() in NO_PRIOR:
        return None
    text = str(spec).strip()
    return f"{DEFAULT} (shipped with hf-quicktune)" if text in ("default", DEFAULT) else text


def prior_directory(spec: str, *, token: str | None = None) -> Path:
    """The local directory of a ``--prior`` value other than ``none``: a shipped prior (``default`` or its name),
    an existing directory, or a Hub repo id's prior files (downloaded or from the Hub cache)."""
    text = str(spec).strip()
    name = DEFAULT if text == "default" else text
    if name in shipped() and not Path(name).exists():
        return SHIPPED_DIR / name
    path = Path(text).expanduser()
    if not path.exists() and "/" not in text:
        raise MetaError(f"{text!r}: no such directory, not a Hub repo id (owner/name) and not a shipped "
                        f"prior ({', '.join(['default', *shipped()])}).")
    from hf_quicktune.meta.hub import prior_files

    return prior_files(path if path.exists() else text, token=token)


def resolve_prior(spec: str | None, *, token: str | None = None) -> tuple[Any, str | None]:
    """``(Prior or None, label)`` for a ``--prior`` value: ``default`` or a shipped name, ``none``, a local
    prior directory, or a Hub repo id ``owner/name[@revision]`` (through :func:`hf_quicktune.meta.hub.load_prior`).
    The label is what the run records (summary, card): the shipped name, the repo id, or the folder name."""
    if spec is None or str(spec).strip().lower() in NO_PRIOR:
        return None, None
    text = str(spec).strip()
    name = DEFAULT if text == "default" else text
    from hf_quicktune.search.prior import Prior

    try:
        directory = prior_directory(text, token=token)
    except MetaError as err:
        raise MetaError(f"--prior {err} Pass one of those, or `none` to search without a prior.") from None
    if directory == SHIPPED_DIR / name:
        return Prior.load(directory), name
    path = Path(text).expanduser()
    return Prior.load(directory), path.name if path.exists() else text


def prior_initial_epochs(prior: Any, max_epochs: int) -> int:
    """The ``initial_epochs`` a prior learnt from its meta-dataset (the first epoch whose accuracy ranks
    configurations like the final one: ``meta.train.choose_initial_epochs``), as the same share of this
    run's schedule: ``k * max_epochs / meta_epochs`` rounded (epoch 5 of the meta-dataset's 50 is a
    tenth of the schedule: 1 epoch of a 10-epoch run), at least 1 and at most half of ``max_epochs``;
    1 (the paper) for a prior without one."""
    prov = getattr(prior, "provenance", None) or {}
    learnt = int(prov.get("initial_epochs") or 1)
    meta_epochs = int(getattr(getattr(prior, "encoder", None), "max_epochs", 0) or max_epochs)
    scaled = int(round(learnt * max_epochs / meta_epochs))
    return max(1, min(scaled, max_epochs // 2))
