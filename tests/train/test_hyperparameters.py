"""Each hyperparameter changes what it should (tiny timm model, 32 px, a few images)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from hf_quicktune.train import Trial
from hf_quicktune.train import checkpoint as ckpt
from hf_quicktune.train.config import validate_config
from hf_quicktune.train.loaders import build_transforms
from hf_quicktune.train.regularizers import FeatureTap
from hf_quicktune.train.strategies import backbone_parameter_names, head_parameter_names

BASE = {"lr": 0.05, "opt": "momentum", "momentum": 0.9, "batch_size": 8, "sched": "none", "weight_decay": 0.0}


class Recording:
    """Model factory that remembers the initial weights and the training batch sizes."""

    __name__ = "recording"

    def __init__(self, base):
        self.base = base
        self.initial: dict[str, torch.Tensor] | None = None
        self.batch_sizes: list[int] = []

    def __call__(self, num_classes, drop_rate=0.0):
        model = self.base(num_classes=num_classes, drop_rate=drop_rate)
        self.initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

        def record(module, args):
            if module.training:
                self.batch_sizes.append(args[0].shape[0])

        model.register_forward_pre_hook(record)
        return model


def _train(tmp_path, name, tiny_model, dataset, epochs=1, max_epochs=10, **config):
    factory = Recording(tiny_model)
    trial = Trial(tmp_path / name, factory, {**BASE, **config}, dataset, max_epochs=max_epochs, image_size=32,
                  num_workers=0)
    records = trial.advance(epochs)
    assert all(r.ok for r in records), records
    return factory, trial, records


def _final(trial) -> dict[str, torch.Tensor]:
    return load_file(str(ckpt.latest_checkpoint(trial.directory)[1] / ckpt.WEIGHTS_FILE))


def _moved(before, after, names) -> dict[str, bool]:
    return {n: not torch.equal(before[n], after[n]) for n in names}


def test_pct_to_freeze_keeps_first_layers_fixed(tmp_path, tiny_dataset, tiny_model):
    factory, trial, _ = _train(tmp_path, "half", tiny_model, tiny_dataset, pct_to_freeze=0.5)
    model = tiny_model(num_classes=3)
    backbone, head = backbone_parameter_names(model), head_parameter_names(model)
    frozen, free = backbone[: len(backbone) // 2], backbone[len(backbone) // 2:]
    after = _final(trial)
    assert not any(_moved(factory.initial, after, frozen).values())
    assert all(_moved(factory.initial, after, head).values())
    assert any(_moved(factory.initial, after, free).values())
    # BatchNorm running statistics of the frozen layers do not move either
    stem_bn = [k for k in after if k.startswith("bn1.running")]
    assert stem_bn and not any(_moved(factory.initial, after, stem_bn).values())


def test_pct_to_freeze_one_trains_only_the_head(tmp_path, tiny_dataset, tiny_model):
    factory, trial, _ = _train(tmp_path, "all", tiny_model, tiny_dataset, pct_to_freeze=1.0)
    after = _final(trial)
    moved = _moved(factory.initial, after, list(after))
    head = head_parameter_names(tiny_model(num_classes=3))
    assert {n for n, m in moved.items() if m} == head


def test_linear_probing_trains_head_first_then_everything(tmp_path, tiny_dataset, tiny_model):
    factory = Recording(tiny_model)
    trial = Trial(tmp_path, factory, {**BASE, "linear_probing": True}, tiny_dataset, max_epochs=10,
                  image_size=32, num_workers=0)  # 10 % of 10 epochs = 1 head-only epoch
    trial.advance(1)
    initial, after_lp = factory.initial, _final(trial)
    model = tiny_model(num_classes=3)
    backbone, head = backbone_parameter_names(model), head_parameter_names(model)
    assert not any(_moved(initial, after_lp, backbone).values())
    assert all(_moved(initial, after_lp, head).values())
    trial.advance(1)
    assert any(_moved(after_lp, _final(trial), backbone).values())


def _distance(a, b, names):
    return sum((a[n] - b[n]).float().pow(2).sum() for n in names).sqrt().item()


def test_sp_pulls_towards_the_starting_weights(tmp_path, tiny_dataset, tiny_model):
    names = backbone_parameter_names(tiny_model(num_classes=3))
    plain, t_plain, _ = _train(tmp_path, "plain", tiny_model, tiny_dataset, epochs=2)
    sp, t_sp, _ = _train(tmp_path, "sp", tiny_model, tiny_dataset, epochs=2, sp_reg=1.0)
    d_plain = _distance(plain.initial, _final(t_plain), names)
    d_sp = _distance(sp.initial, _final(t_sp), names)
    assert d_sp < 0.8 * d_plain


def _features(model, x, train=False):
    tap = FeatureTap(model)
    with torch.no_grad():
        model.train(train)(x)
    return tap.pop()


def _val_batch(dataset, trial):
    _, eval_tf = build_transforms(trial.data_config(), trial.config, 32)
    return torch.stack([eval_tf(img) for img in dataset.validation["image"]])


def test_delta_keeps_features_close_to_the_pretrained_ones(tmp_path, tiny_dataset, tiny_model):
    distances = {}
    for name, reg in (("plain", 0.0), ("delta", 10.0)):
        factory, trial, _ = _train(tmp_path, name, tiny_model, tiny_dataset, epochs=2, lr=0.02, delta_reg=reg)
        start, end = tiny_model(num_classes=3), tiny_model(num_classes=3)
        start.load_state_dict(factory.initial)
        end.load_state_dict(_final(trial))
        x = _val_batch(tiny_dataset, trial)
        # what DELTA penalises: training-mode features vs the frozen pretrained model's
        distances[name] = (_features(end, x, train=True) - _features(start, x)).pow(2).sum(1).mean().item()
    assert distances["delta"] < 0.5 * distances["plain"]


def test_bss_shrinks_the_smallest_singular_value(tmp_path, tiny_dataset, tiny_model):
    sigma = {}
    for name, reg in (("plain", 0.0), ("bss", 10.0)):
        _, trial, _ = _train(tmp_path, name, tiny_model, tiny_dataset, epochs=2, bss_reg=reg)
        model = tiny_model(num_classes=3)
        model.load_state_dict(_final(trial))
        feats = _features(model, _val_batch(tiny_dataset, trial))
        sigma[name] = torch.linalg.svdvals(feats)[-1].item() / torch.linalg.svdvals(feats)[0].item()
    assert sigma["bss"] < 0.8 * sigma["plain"]


def _confidence(trial, dataset, tiny_model):
    model = tiny_model(num_classes=3)
    model.load_state_dict(_final(trial))
    with torch.no_grad():  # batch statistics: the tiny model's running BN stats lag after 3 epochs
        return model.train()(_val_batch(dataset, trial)).softmax(-1).max(-1).values.mean().item()


def test_label_smoothing_lowers_confidence(tmp_path, tiny_dataset, tiny_model):
    kw = {"epochs": 3, "opt": "adamw", "lr": 0.003}
    _, sharp, _ = _train(tmp_path, "sharp", tiny_model, tiny_dataset, **kw)
    _, smooth, _ = _train(tmp_path, "smooth", tiny_model, tiny_dataset, smoothing=0.6, **kw)
    assert _confidence(smooth, tiny_dataset, tiny_model) < _confidence(sharp, tiny_dataset, tiny_model) - 0.05


def test_mixup_and_cutmix_change_training_only_when_applied(tmp_path, tiny_dataset, tiny_model):
    base = _train(tmp_path, "base", tiny_model, tiny_dataset)[2][0].train_loss
    never = _train(tmp_path, "never", tiny_model, tiny_dataset, mixup=1.0, cutmix=1.0, mixup_prob=0.0)[2][0]
    assert never.train_loss == pytest.approx(base, rel=1e-6)
    mixup = _train(tmp_path, "mixup", tiny_model, tiny_dataset, mixup=1.0, mixup_prob=1.0)[2][0]
    cutmix = _train(tmp_path, "cutmix", tiny_model, tiny_dataset, cutmix=1.0, mixup_prob=1.0)[2][0]
    assert mixup.train_loss != pytest.approx(base, rel=1e-3)
    assert cutmix.train_loss != pytest.approx(base, rel=1e-3)
    assert cutmix.train_loss != pytest.approx(mixup.train_loss, rel=1e-3)


def test_drop_rate_reaches_the_model(tmp_path, tiny_dataset, tiny_model):
    trial = Trial(tmp_path, tiny_model, {**BASE, "drop": 0.5}, tiny_dataset, max_epochs=3, image_size=32,
                  num_workers=0, keep_in_memory=True)
    trial.advance(1)
    model = trial._state.raw_model
    assert model.drop_rate == 0.5
    model.train()
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    feats = model.forward_features(x)
    a, b = model.forward_head(feats), model.forward_head(feats)
    assert not torch.allclose(a, b)  # dropout before the classifier
    model.eval()
    torch.testing.assert_close(model.forward_head(feats), model.forward_head(feats))
    trial.release()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"data_augmentation": "none"}, None),
        ({"data_augmentation": "trivial_augment"}, "RandAugment"),
        ({"data_augmentation": "random_augment", "ra_num_ops": 3, "ra_magnitude": 7}, "RandAugment"),
        ({"data_augmentation": "auto_augment", "auto_augment": "original"}, "AutoAugment"),
    ],
)
def test_data_augmentation_policy_in_train_transform_only(config, expected):
    cfg = validate_config(config)
    data_config = {"input_size": (3, 32, 32), "mean": (0.5,) * 3, "std": (0.5,) * 3, "interpolation": "bilinear",
                   "crop_pct": 1.0}
    train_tf, eval_tf = build_transforms(data_config, cfg, 32)
    text = repr(train_tf)
    for policy in ("RandAugment", "AutoAugment"):
        assert (policy in text) == (policy == expected)
        assert policy not in repr(eval_tf)
    if config.get("ra_num_ops"):
        ops = [t for t in train_tf.transforms[-1].transforms if type(t).__name__ == "RandAugment"][0]
        assert ops.num_layers == 3 and all(op.magnitude == 7 for op in ops.ops)


def test_clip_grad_bounds_each_update(tmp_path, tiny_dataset, tiny_model):
    sgd = {"opt": "momentum", "momentum": 0.0, "lr": 1.0}
    clipped, t_clipped, _ = _train(tmp_path, "clip", tiny_model, tiny_dataset, clip_grad=1e-3, **sgd)
    free, t_free, _ = _train(tmp_path, "free", tiny_model, tiny_dataset, **sgd)
    params = [n for n, _ in tiny_model(num_classes=3).named_parameters()]
    steps = 3  # 24 images, batch 8
    assert _distance(clipped.initial, _final(t_clipped), params) <= steps * 1.0 * 1e-3 * 1.001
    assert _distance(free.initial, _final(t_free), params) > 10 * steps * 1e-3


@pytest.mark.parametrize(("batch_size", "expected"), [(8, [8, 8, 8]), (10, [10, 10, 4])])
def test_batch_size_sets_the_steps(tmp_path, tiny_dataset, tiny_model, batch_size, expected):
    factory, _, _ = _train(tmp_path, "b", tiny_model, tiny_dataset, batch_size=batch_size)
    assert factory.batch_sizes == expected


def test_weight_decay_shrinks_weights(tmp_path, tiny_dataset, tiny_model):
    head = sorted(head_parameter_names(tiny_model(num_classes=3)))
    norms = {}
    for wd in (0.0, 0.5):
        _, trial, _ = _train(tmp_path, f"wd{wd}", tiny_model, tiny_dataset, opt="adamw", lr=0.01, weight_decay=wd)
        norms[wd] = _final(trial)[head[-1]].norm().item()  # classifier.weight (biases are not decayed)
    assert norms[0.5] < norms[0.0]


def test_layer_decay_moves_early_layers_less(tmp_path, tiny_dataset, tiny_model):
    first = "conv_stem.weight"
    change = {}
    for ld in (None, 0.1):
        factory, trial, _ = _train(tmp_path, f"ld{ld}", tiny_model, tiny_dataset, layer_decay=ld)
        change[ld] = (_final(trial)[first] - factory.initial[first]).norm().item()
    assert change[0.1] < 0.2 * change[None]


def test_regularizer_tap_reads_classifier_input():
    model = nn.Sequential()
    model.fc = nn.Linear(4, 2)
    model.get_classifier = lambda: model.fc
    tap = FeatureTap(model)
    x = torch.randn(3, 4)
    model(x)
    torch.testing.assert_close(tap.pop(), x)


def test_a_last_batch_of_one_image_is_dropped(tmp_path, tiny_dataset, tiny_model):
    factory, _, records = _train(tmp_path, "b", tiny_model, tiny_dataset, batch_size=23)  # 24 = 23 + 1
    assert factory.batch_sizes == [23] and records[0].ok
