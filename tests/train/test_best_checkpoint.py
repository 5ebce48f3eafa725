"""The best validation epoch's weights are kept beside the newest checkpoint (issue 13.6) and are
what ``load_model(best=True)`` / ``export_trial(best=True)`` / ``evaluate(best=True)`` use."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from hf_quicktune.train import Trial, best_epoch, export_trial, load_model
from hf_quicktune.train import checkpoint as ckpt

KW = {"image_size": 32, "num_workers": 0}


def _fake_checkpoint(directory, epoch: int, score: float | None):
    """A checkpoint folder as the engine writes it, with a given validation top-1."""
    weights = {"w": torch.full((2,), float(epoch))}
    info = {"epoch": epoch, "record": {"epoch": epoch, "val_top1": score}}
    return ckpt.save_checkpoint(directory, epoch, weights, {"rng": None}, info)


def test_update_best_keeps_the_best_epoch_and_costs_no_disk_while_it_is_the_newest(tmp_path):
    scores = {1: 0.3, 2: 0.5, 3: 0.5, 4: 0.2, 5: 0.6}
    kept = []
    for epoch, score in scores.items():
        path = _fake_checkpoint(tmp_path, epoch, score)
        ckpt.update_best(tmp_path, epoch, path)
        kept.append(ckpt.best_checkpoint(tmp_path)[0])
    assert kept == [1, 2, 2, 2, 5]  # a tie keeps the earlier epoch; a worse epoch changes nothing
    (epoch, best), = ckpt.checkpoint_dirs(tmp_path, ckpt._BEST)
    assert best.name == "best-0005" and not list(tmp_path.glob(".tmp-*"))
    # the best epoch is also the newest: one file on disk, two names (hard link)
    assert (best / ckpt.WEIGHTS_FILE).stat().st_ino == (tmp_path / "checkpoint-0005" / ckpt.WEIGHTS_FILE).stat().st_ino
    assert load_file(str(best / ckpt.WEIGHTS_FILE))["w"][0].item() == 5.0


def test_best_weights_survive_when_the_newest_checkpoint_is_replaced(tmp_path):
    for epoch, score in ((1, 0.9), (2, 0.1), (3, 0.2)):
        ckpt.update_best(tmp_path, epoch, _fake_checkpoint(tmp_path, epoch, score))
    assert [p.name for _, p in ckpt.checkpoint_dirs(tmp_path)] == ["checkpoint-0003"]
    epoch, best = ckpt.best_checkpoint(tmp_path)
    assert epoch == 1 and load_file(str(best / ckpt.WEIGHTS_FILE))["w"][0].item() == 1.0
    assert json.loads((best / ckpt.INFO_FILE).read_text())["record"]["val_top1"] == 0.9
    assert ckpt.update_best(tmp_path, 3, tmp_path / "checkpoint-0003") is False  # no score drop


def test_the_best_epoch_is_the_best_of_the_records_metric(tmp_path):
    """Checkpoints whose records select on balanced accuracy keep the epoch best by it, not by top-1; records
    written before the metric existed are scored by top-1."""
    for epoch, top1, balanced in ((1, 0.9, 0.5), (2, 0.8, 0.7), (3, 0.95, 0.6)):
        info = {"epoch": epoch, "record": {"epoch": epoch, "val_top1": top1, "val_balanced_accuracy": balanced,
                                           "metric": "balanced_accuracy"}}
        path = ckpt.save_checkpoint(tmp_path / "balanced", epoch, {"w": torch.full((2,), float(epoch))},
                                    {"rng": None}, info)
        ckpt.update_best(tmp_path / "balanced", epoch, path)
    assert ckpt.best_checkpoint(tmp_path / "balanced")[0] == 2
    assert ckpt.checkpoint_score(ckpt.best_checkpoint(tmp_path / "balanced")[1]) == 0.7
    old = _fake_checkpoint(tmp_path / "old", 1, 0.4)
    assert ckpt.checkpoint_score(old) == 0.4


def test_a_trial_selected_on_balanced_accuracy_records_every_metric_and_keeps_its_best(tmp_path, tiny_dataset,
                                                                                        tiny_model):
    from hf_quicktune.errors import ConfigError

    data = tiny_dataset  # 3 classes, 4 validation images each
    trial = Trial(tmp_path / "t", tiny_model, {"lr": 0.05, "batch_size": 4}, data, max_epochs=4,
                  metric="balanced_accuracy", **KW)
    records = trial.advance(4)
    assert all(r.metric == "balanced_accuracy" and r.score == r.val_balanced_accuracy for r in records)
    assert all(0 <= r.val_balanced_accuracy <= 1 and 0 <= r.val_macro_f1 <= 1 for r in records)
    # 4 validation images per class: balanced accuracy is top-1 here, macro F1 is not bounded by it
    assert all(r.val_balanced_accuracy == pytest.approx(r.val_top1) for r in records)
    scores = [r.val_balanced_accuracy for r in records]
    assert best_epoch(tmp_path / "t") == scores.index(max(scores)) + 1
    test = trial.evaluate("test", best=True)
    assert set(test) >= {"top1", "balanced_accuracy", "macro_f1"} and 0 <= test["macro_f1"] <= 1
    with pytest.raises(ConfigError, match="unknown metric"):
        Trial(tmp_path / "u", tiny_model, {"lr": 0.05, "batch_size": 4}, data, metric="f1", **KW)


def test_trial_exports_its_best_epoch(tmp_path, tiny_dataset, tiny_model):
    snapshots = {}

    def keep(event, info):  # the newest checkpoint's weights after every epoch
        if event == "epoch":
            _, path = ckpt.latest_checkpoint(tmp_path / "t")
            snapshots[info["record"].epoch] = load_file(str(path / ckpt.WEIGHTS_FILE))

    trial = Trial(tmp_path / "t", tiny_model, {"lr": 0.05, "batch_size": 4}, tiny_dataset, max_epochs=4, **KW)
    records = trial.advance(4, callback=keep)
    scores = [r.val_top1 for r in records]
    expected = 1 + scores.index(max(scores))  # the first epoch with the best validation top-1
    assert expected < 4, scores  # an informative case: the best epoch is not the newest
    assert best_epoch(tmp_path / "t") == expected
    best = load_model(tmp_path / "t", tiny_model, best=True).state_dict()
    for name, tensor in snapshots[expected].items():
        torch.testing.assert_close(best[name], tensor)
    out = export_trial(tmp_path / "t", tmp_path / "export", best=True)
    exported = load_file(str(out / "model.safetensors"))
    for name, tensor in snapshots[expected].items():
        torch.testing.assert_close(exported[name], tensor)
    assert json.loads((out / "config.json").read_text())["hf_quicktune"]["epochs"] == expected
    # evaluating the best weights on the validation split reproduces that epoch's recorded score
    again = Trial(tmp_path / "t", tiny_model, {"lr": 0.05, "batch_size": 4}, tiny_dataset, max_epochs=4, **KW)
    assert again.evaluate("validation", best=True)["top1"] == pytest.approx(max(scores))


def test_kill_between_checkpoint_and_best_copy_is_repaired_on_reopen(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path, tiny_model, {"batch_size": 8}, tiny_dataset, max_epochs=3, **KW)
    trial.advance(1)
    for _, path in ckpt.checkpoint_dirs(tmp_path, ckpt._BEST):  # as if killed before the best copy
        import shutil

        shutil.rmtree(path)
    Trial(tmp_path, tiny_model, {"batch_size": 8}, tiny_dataset, max_epochs=3, **KW)
    assert ckpt.best_checkpoint(tmp_path)[0] == 1


def test_a_half_written_best_folder_is_ignored(tmp_path):
    path = _fake_checkpoint(tmp_path, 1, 0.5)
    ckpt.update_best(tmp_path, 1, path)
    half = tmp_path / ".tmp-best-deadbeef"
    half.mkdir()
    save_file({"w": torch.zeros(2)}, str(half / ckpt.WEIGHTS_FILE))
    assert ckpt.best_checkpoint(tmp_path)[0] == 1
    ckpt.update_best(tmp_path, 2, _fake_checkpoint(tmp_path, 2, 0.7))
    assert not half.exists() and ckpt.best_checkpoint(tmp_path)[0] == 2
