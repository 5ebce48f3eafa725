"""Getting the trained network out of a trial directory: as a module, or as files to publish."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from hf_quicktune.errors import TrainError
from hf_quicktune.train import checkpoint as ckpt


def _latest(directory: str | Path, best: bool = False) -> tuple[int, Path]:
    """The newest checkpoint, or with ``best`` the best validation epoch's (the newest when the trial
    has no ``best-*`` folder, e.g. one written by an older version)."""
    found = ckpt.best_checkpoint(directory) if best else None
    latest = found or ckpt.latest_checkpoint(directory)
    if latest is None:
        raise TrainError(f"no checkpoint in {directory}; train the trial first (Trial.advance).")
    return latest


def best_epoch(directory: str | Path) -> int:
    """The epoch whose weights ``load_model(..., best=True)`` / ``export_trial(..., best=True)`` use."""
    return _latest(directory, best=True)[0]


def checkpoint_info(directory: str | Path, best: bool = False) -> dict[str, Any]:
    """The newest (or best) checkpoint's ``trainer_state.json`` (epoch, architecture, config, record...)."""
    _, path = _latest(directory, best)
    return json.loads((path / ckpt.INFO_FILE).read_text(encoding="utf-8"))


def load_model(directory: str | Path, candidate: Any = None, num_classes: int | None = None,
               best: bool = False) -> nn.Module:
    """The network of the trial's newest checkpoint (``best``: of its best validation epoch), in eval mode.

    ``candidate`` (a zoo Candidate or a model factory) builds the architecture; without it the
    checkpoint's timm architecture name is used (random init, then the trained weights).
    """
    from safetensors.torch import load_file

    _, path = _latest(directory, best)
    info = json.loads((path / ckpt.INFO_FILE).read_text(encoding="utf-8"))
    num_classes = int(num_classes or info["num_classes"])
    model_args = dict(info.get("model_args") or {})  # e.g. the img_size a ViT was trained at
    if candidate is None:
        import timm

        if not info.get("architecture"):
            raise TrainError(f"{path} does not name its architecture; pass the candidate to load_model.")
        model = timm.create_model(info["architecture"], pretrained=False, num_classes=num_classes, **model_args)
    elif hasattr(candidate, "architecture"):
        from hf_quicktune.zoo import create_model
        from hf_quicktune.zoo.candidate import Candidate

        # only the architecture is needed: skip loading pretrained weights that are overwritten. A Hub model's
        # config.json may shape it (model_args): rebuilt from the Hub (cached) unless the checkpoint recorded them
        arch_only = Candidate(name=candidate.name, architecture=candidate.architecture, source="scratch",
                              library=getattr(candidate, "library", "timm"))
        from_source = arch_only.library != "timm" or (getattr(candidate, "source", "") == "hf-hub"
                                                      and not set(model_args) - {"img_size"})
        model = create_model(candidate if from_source else arch_only, num_classes=num_classes, **model_args)
    else:
        model = candidate(num_classes=num_classes, drop_rate=0.0)
    model.load_state_dict(load_file(str(path / ckpt.WEIGHTS_FILE)))
    return model.eval()


def export_trial(directory: str | Path, out_dir: str | Path, best: bool = False, candidate: Any = None) -> Path:
    """Copy the newest (``best``: the best validation epoch's) weights to ``out_dir/model.safetensors`` and write a timm-style
    ``config.json`` (architecture, num_classes, label_names, pretrained_cfg) plus the trial's
    hyperparameters and last curve point, so ``timm.create_model("hf-hub:...")`` can load it.

    A transformers ``candidate`` is written as transformers writes it instead (:func:`_export_transformers`)."""
    epoch, path = _latest(directory, best)
    info = json.loads((path / ckpt.INFO_FILE).read_text(encoding="utf-8"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if getattr(candidate, "library", "timm") == "transformers":
        return _export_transformers(load_model(directory, candidate, best=best), info, epoch, out)
    shutil.copyfile(path / ckpt.WEIGHTS_FILE, out / "model.safetensors")
    data_config = info.get("data_config") or {}
    config = {
        "architecture": info.get("architecture"),
        "num_classes": info["num_classes"],
        "label_names": info.get("label_names"),
        "pretrained_cfg": {**data_config, "num_classes": info["num_classes"]},
        **({"model_args": info["model_args"]} if info.get("model_args") else {}),
        "hf_quicktune": {"candidate": info.get("candidate"), "epochs": epoch, "hyperparameters": info.get("config"),
                         "last_record": info.get("record")},
    }
    (out / "config.json").write_text(json.dumps(config, indent=2, default=list), encoding="utf-8")
    return out


def _export_transformers(model: nn.Module, info: dict[str, Any], epoch: int, out: Path) -> Path:
    """``save_pretrained`` of the fine-tuned transformers classifier (``AutoModelForImageClassification`` and
    ``pipeline("image-classification")`` load it), with the dataset's labels as ``id2label``, and an image
    processor that reproduces the evaluation preprocessing the model was trained with
    (:func:`~hf_quicktune.zoo.transformers_adapter.eval_processor`). A model trained at another size than its
    config's ``image_size`` is saved built for that size (``TimmStyleAdapter.built_for``) so that ``pipeline``
    runs it; when that cannot be done, ``config.hf_quicktune`` says it needs ``interpolate_pos_encoding=True``,
    with the trial's hyperparameters and input size."""
    from hf_quicktune.zoo.transformers_adapter import eval_processor

    data_config = info.get("data_config") or {}
    size = int((data_config.get("input_size") or (3, 224, 224))[-1])
    hf = (model.built_for(size) if model.interpolates(size) else None) or model.hf_model
    labels = [str(n) for n in info.get("label_names") or range(int(info["num_classes"]))]
    hf.config.id2label = dict(enumerate(labels))
    hf.config.label2id = {name: i for i, name in enumerate(labels)}
    hf.config.hf_quicktune = {"candidate": info.get("candidate"), "epochs": epoch, "image_size": size,
                              "interpolate_pos_encoding": hf is model.hf_model and bool(model.interpolates(size)),
                              "hyperparameters": info.get("config"), "last_record": info.get("record")}
    hf.save_pretrained(out)
    eval_processor(data_config, size).save_pretrained(out)
    return out
