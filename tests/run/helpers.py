"""Shared helpers of the run tests: tiny real datasets and checks on a run directory's records."""

from __future__ import annotations

import json
from pathlib import Path

#: Two real candidates of the offline zoo: ImageNet EfficientNet-Lite0 and a small scratch baseline.
ZOO = "tf_efficientnet_lite0,scratch:mobilenetv3_small_050"
SMALL = ["--zoo", ZOO, "--image-size", "32", "--train-limit", "96", "--rank-samples", "48", "--pool-size", "8",
         "--max-epochs", "3"]


def digits_datasetdict(n_train: int = 200, n_val: int = 80, n_test: int = 80):
    """A small real image dataset (scikit-learn digits, 8x8 -> 32x32 PNG) with train/validation/test."""
    import numpy as np
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Image
    from PIL import Image as PILImage
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(d.target))
    features = Features({"image": Image(), "label": ClassLabel(names=[str(i) for i in range(10)])})

    def split(ids):
        imgs = [PILImage.fromarray((d.images[i] * 255 / 16).astype("uint8")).resize((32, 32)) for i in ids]
        return Dataset.from_dict({"image": imgs, "label": [int(d.target[i]) for i in ids]}, features=features)

    a, b = n_train, n_train + n_val
    return DatasetDict(train=split(idx[:a]), validation=split(idx[a:b]), test=split(idx[b:b + n_test]))


def raw_curve_epochs(trial_dir: Path) -> list[int]:
    """Epoch numbers of every line ever appended to a trial's curve.jsonl (duplicates = retrained)."""
    path = trial_dir / "curve.jsonl"
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(int(json.loads(line)["epoch"]))
        except (json.JSONDecodeError, KeyError):
            continue
    return out


def check_records(out: Path, *, just_killed: bool = False) -> dict[int, list[int]]:
    """Assert the run's records are consistent: every trial's curve has epochs 1..n once each, the
    steps log holds each (trial, epoch) once, and the optimizer state knows exactly those epochs.

    ``just_killed``: the run was SIGKILLed and not yet resumed. The write order per step is curve ->
    optimizer state -> steps.jsonl (run/state.py), so a kill between them may leave the newest curve
    epoch not yet told; at most one such epoch, and never the other way round (a told epoch missing
    from its curve). The resumed run tells it instead of re-training it (checked at the end)."""
    from hf_quicktune.search.serialization import load_state

    curves = {int(d.name): raw_curve_epochs(d) for d in sorted((out / "trials").iterdir())
              if (d / "curve.jsonl").exists()}
    for tid, epochs in curves.items():
        assert epochs == list(range(1, len(epochs) + 1)), f"trial {tid} curve epochs {epochs}"
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]
    pairs = [(s["trial_id"], s["epoch"]) for s in steps]
    assert len(pairs) == len(set(pairs)), "a step was logged twice"
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    on_curves = {(t, e) for t, es in curves.items() for e in es}
    assert set(pairs) <= on_curves, f"steps logged without a curve record: {set(pairs) - on_curves}"
    untold = on_curves - set(pairs)
    assert len(untold) <= (1 if just_killed else 0), f"curve epochs never logged as steps: {sorted(untold)}"
    state = load_state(out / "optimizer")
    told = {int(t): (len(v["scores"]), v["status"]) for t, v in state["trials"].items()}
    on_disk = {}
    for d in sorted((out / "trials").iterdir()):
        recs = [json.loads(line) for line in (d / "curve.jsonl").read_text().splitlines() if line.endswith("}")] \
            if (d / "curve.jsonl").exists() else []
        if recs:
            failed = [r["status"] for r in recs if r["status"] != "ok"]
            on_disk[int(d.name)] = (sum(r["status"] == "ok" for r in recs), failed[0] if failed else "ok")
    told = {t: v for t, v in told.items() if v != (0, "ok")}
    if just_killed and untold:
        (tid, _), = untold
        told.setdefault(tid, (0, "ok"))
        assert told[tid][0] in (on_disk[tid][0] - 1, on_disk[tid][0]), (told[tid], on_disk[tid])
        told[tid], on_disk[tid] = on_disk[tid], on_disk[tid]
    assert told == on_disk
    return curves


def make_run_optimizer(settings, pool: list[dict], cost_prior=None, prior=None, num_classes=None):
    """``run.search_setup.make_optimizer`` for ``pool`` with no model features and no meta-features."""
    from hf_quicktune.run import search_setup

    return search_setup.make_optimizer(settings, pool, prior=prior, meta={}, features=None,
                                       num_classes=num_classes, cost_prior=cost_prior)
