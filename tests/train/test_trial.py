"""The trial engine: continuation (2 + 3 == 5), curve file, checkpoints, export."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from hf_quicktune.errors import TrainError
from hf_quicktune.train import EpochRecord, Trial, export_trial, load_curve, load_model
from hf_quicktune.train import checkpoint as ckpt

# Exercises every source of randomness: shuffling, augmentation, mixup/cutmix, dropout, warmup + cosine.
STOCHASTIC = {"lr": 0.02, "batch_size": 8, "opt": "momentum", "sched": "cosine", "warmup_epochs": 1,
              "warmup_lr": 1e-3, "mixup": 0.4, "cutmix": 1.0, "mixup_prob": 0.7, "drop": 0.2,
              "data_augmentation": "random_augment", "ra_num_ops": 2, "ra_magnitude": 9, "smoothing": 0.1}
KW = {"max_epochs": 5, "image_size": 32, "num_workers": 0}


def _curve_key(records: list[EpochRecord]) -> list[float]:
    return [v for r in records for v in (r.epoch, r.val_top1, r.val_loss, r.train_loss, r.lr)]


def _weights(directory):
    _, path = ckpt.latest_checkpoint(directory)
    return load_file(str(path / ckpt.WEIGHTS_FILE))


def test_two_plus_three_epochs_equal_five(tmp_path, tiny_dataset, tiny_model):
    torch.use_deterministic_algorithms(True)
    try:
        split = Trial(tmp_path / "split", tiny_model, STOCHASTIC, tiny_dataset, **KW)
        first = split.advance(2)
        assert split.epochs_done == 2
        torch.manual_seed(1234)  # other work in between must not change the continuation
        resumed = Trial(tmp_path / "split", tiny_model, STOCHASTIC, tiny_dataset, **KW)
        assert resumed.epochs_done == 2
        second = resumed.advance(3)

        whole = Trial(tmp_path / "whole", tiny_model, STOCHASTIC, tiny_dataset, **KW).advance(5)

        in_memory = Trial(tmp_path / "mem", tiny_model, STOCHASTIC, tiny_dataset, keep_in_memory=True, **KW)
        a = in_memory.advance(2)
        torch.rand(100)
        b = in_memory.advance(3)
    finally:
        torch.use_deterministic_algorithms(False)
    assert [r.epoch for r in first + second] == [1, 2, 3, 4, 5]
    assert all(r.ok for r in whole)
    expected = _curve_key(whole)
    assert _curve_key(first + second) == pytest.approx(expected, rel=1e-5)
    assert _curve_key(a + b) == pytest.approx(expected, rel=1e-5)
    # the curves are not trivially equal: every epoch trains to a different loss and the lr follows
    # warmup + cosine over 5 epochs (that training *learns* is tested in test_transfer.py; this tiny
    # heavily-augmented run at lr 0.02 need not lower its loss)
    assert whole[0].lr == pytest.approx(1e-3)  # warmup, then timm's cosine over the 5-epoch budget
    assert whole[1].lr == pytest.approx(0.02 * 0.5 * (1 + math.cos(math.pi * 1 / 5)))
    assert whole[4].lr < whole[2].lr < whole[1].lr
    assert len({round(r.train_loss, 6) for r in whole}) == 5
    w_split, w_whole = _weights(tmp_path / "split"), _weights(tmp_path / "whole")
    for name, tensor in w_whole.items():
        torch.testing.assert_close(w_split[name], tensor, rtol=1e-5, atol=1e-6)
    assert load_curve(tmp_path / "split") == first + second


def test_files_records_and_only_newest_checkpoint(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path, tiny_model, {"lr": 0.01, "batch_size": 8}, tiny_dataset, max_epochs=3,
                  image_size=32, num_workers=0)
    records = trial.advance(5)  # capped by max_epochs
    assert [r.epoch for r in records] == [1, 2, 3] and trial.finished
    assert trial.advance(1) == []
    assert [p.name for _, p in ckpt.checkpoint_dirs(tmp_path)] == ["checkpoint-0003"]
    assert {p.name for p in (tmp_path / "checkpoint-0003").iterdir()} == {
        "model.safetensors", "training_state.pt", "trainer_state.json"}
    lines = (tmp_path / "curve.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]
    r = records[-1]
    assert 0.0 <= r.val_top1 <= 1.0 and r.val_top5 is None  # 3 classes: no top-5
    assert r.train_seconds > 0 and r.eval_seconds > 0 and r.images_per_second > 0
    assert r.peak_memory_mb > 0 and r.status == "ok" and r.val_loss > 0
    state = torch.load(tmp_path / "checkpoint-0003" / "training_state.pt", weights_only=True)
    assert {"optimizer", "scheduler", "scaler", "rng"} <= set(state) and state["optimizer"]["state"]
    assert {"torch", "numpy", "python"} <= set(state["rng"])


def test_curve_survives_a_crash_between_checkpoint_and_append(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path, tiny_model, {"batch_size": 8}, tiny_dataset, max_epochs=3, image_size=32, num_workers=0)
    (rec,) = trial.advance(1)
    (tmp_path / "curve.jsonl").write_text("")  # as if the process died before appending
    reopened = Trial(tmp_path, tiny_model, {"batch_size": 8}, tiny_dataset, max_epochs=3, image_size=32)
    assert reopened.curve == [rec]


def test_top5_with_five_or_more_classes(tmp_path, tiny_model):
    from conftest import make_dataset

    ds = make_dataset(num_classes=6, n_train=12, n_val=12)
    trial = Trial(tmp_path, tiny_model, {"batch_size": 6}, ds, max_epochs=2, image_size=32, num_workers=0)
    (rec,) = trial.advance(1)
    # top-5 recomputed independently: the trained checkpoint's logits on the validation images
    from hf_quicktune.data import build_transform

    model = load_model(tmp_path, tiny_model)
    tf = build_transform(trial.data_config(), train=False, image_size=32)
    with torch.no_grad():
        logits = torch.cat([model(tf(row["image"].convert("RGB"))[None]) for row in ds.validation])
    labels = torch.tensor(ds.validation["label"])
    top5 = (logits.topk(5, dim=-1).indices == labels[:, None]).any(dim=-1).float().mean().item()
    top1 = (logits.argmax(dim=-1) == labels).float().mean().item()
    assert rec.val_top5 == pytest.approx(top5) and rec.val_top1 == pytest.approx(top1)
    assert 0.0 < top5 < 1.0  # an informative case: a constant 0 or 1 would not pass


def test_same_directory_with_other_settings_is_refused(tmp_path, tiny_dataset, tiny_model):
    Trial(tmp_path, tiny_model, {"batch_size": 8}, tiny_dataset, max_epochs=2, image_size=32, num_workers=0).advance(1)
    with pytest.raises(TrainError, match="different config"):
        Trial(tmp_path, tiny_model, {"batch_size": 8, "lr": 0.5}, tiny_dataset, max_epochs=2, image_size=32)


def test_evaluate_export_and_load_model(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path / "t", tiny_model, {"lr": 0.01, "batch_size": 8}, tiny_dataset, max_epochs=2,
                  image_size=32, num_workers=0)
    with pytest.raises(TrainError, match="advance"):
        trial.evaluate("test")
    trial.advance(2)
    scores = trial.evaluate("test")
    assert scores["num_examples"] == len(tiny_dataset.test) and 0 <= scores["top1"] <= 1
    with pytest.raises(TrainError, match="no 'nope' split"):
        trial.evaluate("nope")

    model = load_model(tmp_path / "t", tiny_model)
    again = load_model(tmp_path / "t")  # from the architecture name in the checkpoint
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), again.eval()(x))

    out = export_trial(tmp_path / "t", tmp_path / "export")
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "test_efficientnet" and config["num_classes"] == 3
    assert config["label_names"] == ["c0", "c1", "c2"]
    assert config["pretrained_cfg"]["input_size"] == [3, 32, 32]
    assert config["hf_quicktune"]["epochs"] == 2
    exported = load_file(str(out / "model.safetensors"))
    torch.testing.assert_close(exported["classifier.weight"], model.state_dict()["classifier.weight"])


def test_set_schedule_changes_the_horizon_in_memory_as_a_rebuild_from_the_checkpoint_would(
        tmp_path, tiny_dataset, tiny_model):
    """A run's re-fit changes the horizon of the engine it keeps in memory (no reload): the next epochs train
    exactly as a trial rebuilt from the checkpoint on the new horizon does."""
    config = {"lr": 0.01, "batch_size": 8, "sched": "cosine", "warmup_epochs": 0}
    kw = {"image_size": 32, "num_workers": 0, "horizon_may_change": True}
    fixed = Trial(tmp_path / "fixed", tiny_model, config, tiny_dataset, max_epochs=4, image_size=32, num_workers=0)
    with pytest.raises(TrainError, match="horizon_may_change"):
        fixed.set_schedule(8)
    kept = Trial(tmp_path / "kept", tiny_model, config, tiny_dataset, max_epochs=4, keep_in_memory=True, **kw)
    rebuilt = Trial(tmp_path / "rebuilt", tiny_model, config, tiny_dataset, max_epochs=4, **kw)
    assert _curve_key(kept.advance(2)) == _curve_key(rebuilt.advance(2))
    state = kept._state
    with pytest.raises(TrainError, match="different config"):  # only the schedule may change
        kept.set_schedule(8, {**config, "lr": 0.02})
    assert kept.max_epochs == 4 and kept.config["lr"] == 0.01  # a refused change leaves the trial as it was
    kept.set_schedule(8, {**config, "decay_epochs": 3})
    assert kept._state is state and kept.max_epochs == 8 and not kept.finished  # nothing was reloaded
    assert json.loads((tmp_path / "kept" / "trial.json").read_text())["max_epochs"] == 8
    rebuilt = Trial(tmp_path / "rebuilt", tiny_model, {**config, "decay_epochs": 3}, tiny_dataset, max_epochs=8, **kw)
    after_kept, after_rebuilt = kept.advance(2), rebuilt.advance(2)
    assert [r.lr for r in after_kept] == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * e / 8)) for e in (2, 3)])
    assert _curve_key(after_kept) == _curve_key(after_rebuilt)
    assert all(torch.equal(a, b) for a, b in zip(_weights(tmp_path / "kept").values(),
                                                   _weights(tmp_path / "rebuilt").values()))


def test_a_reschedulable_trial_continues_its_learning_rate_on_a_new_horizon(tmp_path, tiny_dataset, tiny_model):
    """A run re-fitting its fine-tune's schedule to the time the first epoch took (issue 13): the epochs after
    the change follow the cosine of the new length, from the epochs done; other changes are still refused."""
    config = {"lr": 0.01, "batch_size": 8, "sched": "cosine", "warmup_epochs": 0}
    kw = {"image_size": 32, "num_workers": 0}

    def cosine(epoch_index: int, horizon: int) -> float:
        return 0.01 * 0.5 * (1 + math.cos(math.pi * epoch_index / horizon))

    first = Trial(tmp_path / "t", tiny_model, config, tiny_dataset, max_epochs=4, **kw).advance(1)
    assert first[0].lr == pytest.approx(cosine(0, 4))
    with pytest.raises(TrainError, match="different max_epochs"):  # the identity check stands by default
        Trial(tmp_path / "t", tiny_model, config, tiny_dataset, max_epochs=6, **kw)
    with pytest.raises(TrainError, match="different config"):  # and for anything but the horizon
        Trial(tmp_path / "t", tiny_model, {**config, "lr": 0.02}, tiny_dataset, max_epochs=6,
              horizon_may_change=True, **kw)
    longer = Trial(tmp_path / "t", tiny_model, {**config, "decay_epochs": 3}, tiny_dataset, max_epochs=6,
                   horizon_may_change=True, **kw)
    assert json.loads((tmp_path / "t" / "trial.json").read_text())["max_epochs"] == 6
    (rec,) = longer.advance(1)
    assert rec.epoch == 2 and rec.lr == pytest.approx(cosine(1, 6)) and rec.lr != pytest.approx(cosine(1, 4))
    # the next session loads the scheduler saved on the new horizon
    again = Trial(tmp_path / "t", tiny_model, {**config, "decay_epochs": 3}, tiny_dataset, max_epochs=6, **kw)
    assert [r.lr for r in again.advance(2)] == pytest.approx([cosine(2, 6), cosine(3, 6)])
    assert again.epochs_done == 4 and not again.finished


def test_an_epoch_fraction_trains_that_share_of_the_batches_and_is_part_of_the_trials_identity(
        tmp_path, tiny_dataset, tiny_model):
    """A run whose budget buys whole epochs and a part trains one epoch more, each on a share of the images
    (run/schedule.py): an epoch of fraction 0.5 trains half of its shuffled batches (rounded up)."""
    config = {"lr": 0.01, "batch_size": 8}
    kw = {"image_size": 32, "num_workers": 0}
    steps: list[tuple[int, int, int]] = []

    def count(event, info):
        if event == "train_step":
            steps.append((info["epoch"], info["step"], info["steps"]))

    Trial(tmp_path / "whole", tiny_model, config, tiny_dataset, max_epochs=2, **kw).advance(1, callback=count)
    batches = len(steps)
    assert batches >= 3 and steps[-1] == (1, batches, batches)
    steps.clear()
    part = Trial(tmp_path / "part", tiny_model, config, tiny_dataset, max_epochs=2, epoch_fraction=0.5, **kw)
    records = part.advance(2, callback=count)
    half = math.ceil(batches / 2)
    assert [(e, s) for e, s, _ in steps] == [(e, s) for e in (1, 2) for s in range(1, half + 1)]
    assert {total for _, _, total in steps} == {half} and len(records) == 2 and part.finished
    assert json.loads((tmp_path / "part" / "trial.json").read_text())["epoch_fraction"] == 0.5
    assert "epoch_fraction" not in json.loads((tmp_path / "whole" / "trial.json").read_text())
    with pytest.raises(TrainError, match="different epoch_fraction"):  # its checkpoints trained on halves
        Trial(tmp_path / "part", tiny_model, config, tiny_dataset, max_epochs=2, **kw)
    for bad in (0.0, 1.5):
        with pytest.raises(TrainError, match="epoch_fraction must be in"):
            Trial(tmp_path / "bad", tiny_model, config, tiny_dataset, epoch_fraction=bad, **kw)


def test_an_epoch_ended_early_is_kept_and_no_further_epoch_starts(tmp_path, tiny_dataset, tiny_model):
    """A budget about to end ends the epoch in flight early (``end_early``) instead of cutting it and losing it
    (``should_stop``): the epoch is evaluated and checkpointed with the batches it trained."""
    config = {"lr": 0.01, "batch_size": 8}
    kw = {"image_size": 32, "num_workers": 0}
    steps: list[int] = []

    def count(event, info):
        if event == "train_step":
            steps.append(info["step"])

    full = Trial(tmp_path / "full", tiny_model, config, tiny_dataset, max_epochs=3, **kw)
    full.advance(1, callback=count)
    batches = len(steps)
    assert batches >= 3
    steps.clear()
    trial = Trial(tmp_path / "t", tiny_model, config, tiny_dataset, max_epochs=3, **kw)
    records = trial.advance(3, callback=count, end_early=lambda: len(steps) >= 2)
    assert steps == [1, 2] and len(records) == 1 and not records.stopped  # one epoch, kept, then no other
    assert records[0].ok and records[0].val_top1 is not None and trial.epochs_done == 1
    assert records[0].message == f"ended early at the budget's end after 2 of {batches} batches"
    assert load_curve(tmp_path / "t")[0].message == records[0].message
    # the time to end early had come before an epoch began: none starts, nothing is discarded
    again = trial.advance(1, end_early=lambda: True)
    assert list(again) == [] and again.stopped and trial.epochs_done == 1
    # an epoch that trains all its batches is not marked
    steps.clear()
    assert trial.advance(1, callback=count, end_early=lambda: False)[0].message == "" and len(steps) == batches


@pytest.mark.parametrize("mode", ["warmup", "update", "epoch"])
def test_when_the_learning_rate_moves(tmp_path, tiny_dataset, tiny_model, mode):
    """``lr_stepping``: "warmup" (default) ramps a warm-up within its epochs, then holds the lr for whole epochs;
    "update" also anneals a cosine within its epochs; "epoch" (timm train.py's default) trains a warm-up's whole
    first epoch at ``warmup_lr``. The records' epoch-start lr is the same under all three."""
    config = {"lr": 0.02, "batch_size": 6, "sched": "cosine", "warmup_epochs": 2, "warmup_lr": 1e-6}
    used: dict[int, list[float]] = {}

    def callback(event, info):
        if event == "train_step":
            used.setdefault(info["epoch"], []).append(info["lr"])

    kw = {} if mode == "warmup" else {"lr_stepping": mode}
    trial = Trial(tmp_path, tiny_model, config, tiny_dataset, max_epochs=3, image_size=32, num_workers=0, **kw)
    records = trial.advance(3, callback=callback)
    steps = 24 // 6
    assert sorted(used) == [1, 2, 3] and all(len(v) == steps for v in used.values())
    ramp = (0.02 - 1e-6) / 2  # timm's warm-up: linear from warmup_lr to lr over warmup_epochs
    cosine = [0.01 * (1 + math.cos(math.pi * (2 + u / steps) / 3)) for u in range(steps)]  # no warm-up prefix
    if mode == "epoch":
        assert used[1] == pytest.approx([1e-6] * steps) and used[2] == pytest.approx([1e-6 + ramp] * steps)
    else:
        assert used[1] == pytest.approx([1e-6 + ramp * u / steps for u in range(steps)])
        assert used[2] == pytest.approx([1e-6 + ramp * (1 + u / steps) for u in range(steps)])
    if mode == "update":
        assert used[3] == pytest.approx(cosine) and used[3][-1] < used[3][0] / 2
    else:
        assert used[3] == pytest.approx([cosine[0]] * steps)
    assert [r.lr for r in records] == pytest.approx([1e-6, 1e-6 + ramp, cosine[0]])
    info = json.loads((tmp_path / "trial.json").read_text())
    assert info.get("lr_stepping", "warmup") == mode
    with pytest.raises(TrainError, match="lr_stepping must be one of"):
        Trial(tmp_path / "bad", tiny_model, config, tiny_dataset, lr_stepping="step")


def test_a_plateau_schedule_warms_up_within_epochs_then_waits_for_the_score(tmp_path, tiny_dataset, tiny_model):
    """timm's plateau scheduler: its warm-up ramps per update like the others; after it, the lr changes only
    when a validation score fails to improve (once an epoch), never within an epoch."""
    config = {"lr": 0.02, "batch_size": 6, "sched": "plateau", "warmup_epochs": 1, "warmup_lr": 1e-6,
              "patience_epochs": 0, "decay_rate": 0.5}
    used: dict[int, list[float]] = {}

    def callback(event, info):
        if event == "train_step":
            used.setdefault(info["epoch"], []).append(info["lr"])

    records = Trial(tmp_path, tiny_model, config, tiny_dataset, max_epochs=4, image_size=32,
                    num_workers=0).advance(4, callback=callback)
    steps = 24 // 6
    assert used[1] == pytest.approx([1e-6 + (0.02 - 1e-6) * u / steps for u in range(steps)])
    for epoch in (2, 3, 4):
        assert len(set(used[epoch])) == 1  # constant within the epoch
    assert used[2][0] == pytest.approx(0.02)
    for prev, rec in zip(records[1:], records[2:]):  # patience 0: every epoch that does not improve halves it
        assert used[rec.epoch][0] in (pytest.approx(used[prev.epoch][0]), pytest.approx(used[prev.epoch][0] / 2))


def test_no_mixed_precision_here_is_said_once_per_process(tmp_path, tiny_dataset, tiny_model, caplog, monkeypatch):
    """On a CPU the searched ``amp`` changes nothing: the first trial with it says so at INFO, later ones at DEBUG
    (a CPU run's log said it once per trial built, about half of them)."""
    import logging

    from hf_quicktune.train import trial as trial_module

    monkeypatch.setattr(trial_module, "_NO_AMP_SAID", set())
    with caplog.at_level(logging.DEBUG, logger="hf_quicktune.train.trial"):
        for name in ("a", "b", "c"):
            Trial(tmp_path / name, tiny_model, {"batch_size": 8, "amp": True}, tiny_dataset, max_epochs=1,
                  image_size=32, num_workers=0).advance(1)
    said = [r.levelno for r in caplog.records if "no mixed precision" in r.getMessage()]
    assert said == [logging.INFO, logging.DEBUG, logging.DEBUG]
