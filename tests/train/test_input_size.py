"""A transformer built for another input size than its own (zoo/input_size.py), from the zoo through the ranking,
a trial and the export; a pretrained LeViT, which timm cannot resample, is refused with the reason."""

from __future__ import annotations

import json
import uuid

import pytest
import torch

from hf_quicktune.errors import ZooError
from hf_quicktune.zoo import create_model, get_candidate
from hf_quicktune.zoo.candidate import Candidate
from hf_quicktune.zoo.input_size import accepts_img_size, size_args

VIT = "test_vit3"  # a 0.9 M-parameter timm ViT built for 160 px (no dynamic_img_size)
TINY_LEVIT = {"embed_dim": (16, 24, 32), "key_dim": 8, "num_heads": (1, 1, 1), "depth": (1, 1, 1)}


def test_only_constructors_that_take_img_size_are_resized():
    assert accepts_img_size(VIT) and accepts_img_size("levit_128s") and accepts_img_size("swin_tiny_patch4_window7_224")
    assert not accepts_img_size("test_efficientnet") and not accepts_img_size("resnet18")
    assert not accepts_img_size("no_such_model")
    vit = get_candidate(f"scratch:{VIT}")
    assert vit.input_size == (3, 160, 160)
    assert size_args(vit, 32) == {"img_size": 32}
    assert size_args(vit, 160) == {} and size_args(vit, None) == {}  # its own size: built as it is
    assert size_args(get_candidate("scratch:test_efficientnet"), 32) == {}
    assert size_args(Candidate("v", VIT, source="local", path="x"), 32) == {}
    assert size_args(Candidate("v", VIT, source="hf-hub", library="transformers"), 32) == {}


def test_a_vit_runs_at_another_size_only_when_built_for_it():
    vit = get_candidate(f"scratch:{VIT}")
    x = torch.randn(2, 3, 32, 32)
    with pytest.raises(AssertionError, match="Input height"):  # what every caller met before
        create_model(vit, num_classes=3).eval()(x)
    assert create_model(vit, num_classes=3, image_size=32).eval()(x).shape == (2, 3)


def test_rank_scores_a_vit_at_a_small_size_and_skips_a_model_whose_forward_fails(monkeypatch):
    """`rank --image-size 32` crashed with a traceback on the default zoo's first ViT; now the ViT is ranked, and
    a candidate that still cannot run on the images is skipped with the reason."""
    from conftest import make_dataset

    from hf_quicktune.rank import rank

    data = make_dataset(num_classes=3, n_train=24, n_val=6)
    broken = Candidate("scratch:broken", "test_efficientnet", source="scratch", pretraining="none")
    import hf_quicktune.zoo.factory as factory

    real = factory._build

    def too_small(x):
        raise RuntimeError("Output size is too small")

    def build(cand, *args):
        model = real(cand, *args)
        if cand.name == "scratch:broken":  # as a network whose strides outgrow a small input fails
            model.forward_features = too_small
        return model

    monkeypatch.setattr(factory, "_build", build)
    result = rank(data, [get_candidate(f"scratch:{VIT}"), broken], scores="lfc,knn", n=24, image_size=32, cache=False)
    assert list(result.table) == [f"scratch:{VIT}"]
    assert "failed its forward pass" in result.info["errors"]["scratch:broken"]
    assert "Output size is too small" in result.info["errors"]["scratch:broken"]


def test_a_trial_at_another_size_records_it_and_its_export_rebuilds_the_model(tmp_path):
    import timm
    from conftest import make_dataset

    from hf_quicktune.train import Trial, export_trial, load_model

    data = make_dataset(num_classes=3, n_train=12, n_val=6)
    trial = Trial(tmp_path / "t", get_candidate(f"scratch:{VIT}"), {"lr": 1e-3, "batch_size": 6}, data,
                  max_epochs=1, image_size=32, num_workers=0)
    assert trial.advance(1)[-1].val_top1 is not None
    info = json.loads(next((tmp_path / "t").glob("checkpoint-*/trainer_state.json")).read_text())
    assert info["model_args"] == {"img_size": 32}
    x = torch.randn(2, 3, 32, 32)
    trained = load_model(tmp_path / "t")  # from the checkpoint alone: the architecture and its size
    export = export_trial(tmp_path / "t", tmp_path / "export")
    assert json.loads((export / "config.json").read_text())["model_args"] == {"img_size": 32}
    again = timm.create_model(VIT, pretrained=False, num_classes=3, **info["model_args"]).eval()
    again.load_state_dict(trained.state_dict())
    assert torch.allclose(again(x), trained(x))


@pytest.fixture(scope="module")
def hub_transformers(hub, tmp_path_factory):
    """A namespace with a pretrained timm ViT, a pretrained (tiny) LeViT and a small pretrained CNN, each at its
    own size."""
    import timm
    from timm.models import save_for_hf

    tmp = tmp_path_factory.mktemp("sized")
    ns = f"sized-{uuid.uuid4().hex[:8]}"
    models = {}
    for name, arch, kwargs in (("vit", VIT, {}), ("levit", "levit_128s", TINY_LEVIT), ("cnn", "test_efficientnet", {})):
        torch.manual_seed(1)
        model = timm.create_model(arch, **kwargs).eval()
        folder = tmp / name
        save_for_hf(model, str(folder), safe_serialization=True, model_args=kwargs or None)
        hub.api.create_repo(f"{ns}/{name}")
        hub.api.upload_folder(repo_id=f"{ns}/{name}", folder_path=str(folder))
        models[name] = model
    return ns, models


@pytest.mark.hub
def test_pretrained_position_embeddings_are_resampled_and_the_rest_kept(hub_transformers):
    from timm.layers import resample_abs_pos_embed

    ns, models = hub_transformers
    cand = Candidate(f"hf-hub:{ns}/vit", VIT, source="hf-hub", hub_id=f"{ns}/vit", input_size=(3, 160, 160))
    model = create_model(cand, num_classes=3, image_size=32).eval()
    ref = models["vit"].state_dict()
    got = model.state_dict()
    assert torch.equal(got["blocks.0.attn.qkv.weight"], ref["blocks.0.attn.qkv.weight"])
    assert got["pos_embed"].shape == (1, model.num_prefix_tokens + 4, ref["pos_embed"].shape[-1])  # 2 x 2 patches
    expected = resample_abs_pos_embed(ref["pos_embed"], new_size=(2, 2), num_prefix_tokens=model.num_prefix_tokens,
                                      interpolation="bicubic", antialias=True)
    assert torch.allclose(got["pos_embed"], expected)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


@pytest.mark.hub
def test_a_pretrained_levit_is_refused_at_another_size_with_the_reason(hub_transformers, tmp_path):
    """The reason is a ZooError: the ranking skips the model with it, and the budget's choice of a smaller
    size (run/plan.py) keeps the model's own size on it, as the timed step there raises it."""
    from hf_quicktune.run.schedule import measure_reference

    ns, _ = hub_transformers
    cand = Candidate(f"hf-hub:{ns}/levit", "levit_128s", source="hf-hub", hub_id=f"{ns}/levit")
    assert create_model(cand, num_classes=3, image_size=224) is not None  # its own size: fine
    with pytest.raises(ZooError, match=r"built for 224 px and timm cannot resample its pretrained weights to 32 px"
                                       r".*attention_biases.*leave out --image-size") as info:
        create_model(cand, num_classes=3, image_size=32)
    assert info.value.code == "fixed_input_size"
    with pytest.raises(ZooError, match="cannot resample"):
        measure_reference(cand, 3, 32, batch_size=2, repeats=1, scratch_dir=tmp_path)


@pytest.mark.hub
def test_a_budget_too_small_for_a_levit_trains_the_next_fastest_model_smaller(hub_transformers, tmp_path,
                                                                                 monkeypatch, capfd):
    """The budget's smaller input size (run/plan.py) is for the fastest kept pretrained model; a LeViT, which
    trains at its own size only, gives way to the next fastest instead of being trained at a size that buys a
    fraction of an epoch."""
    from hf_quicktune.cli import main
    from hf_quicktune.run import resolution, schedule

    ns, _ = hub_transformers
    monkeypatch.setattr(resolution, "MIN_EPOCHS", 10_000)  # whatever this machine's speed: every size is short
    monkeypatch.setattr(schedule, "SEARCH_MIN_EPOCHS", 10_000)  # and too short to search
    real, timed = schedule.fastest_by, schedule.measure_reference
    monkeypatch.setattr(schedule, "fastest_by", lambda ranked, cost: next(  # the LeViT is the fastest while kept
        (c for c in ranked if c.architecture == "levit_128s"), None) or real(ranked, cost))

    def slow_at_own_size(candidate, num_classes, image_size, **kwargs):  # as real models: a budget that buys
        out = timed(candidate, num_classes, image_size, **kwargs)  # few epochs at their own size, more below
        own = candidate.architecture == "levit_128s" or image_size in (None, 160)
        return {**out, "step_s": out["step_s"] * 1000} if own else out

    monkeypatch.setattr(schedule, "measure_reference", slow_at_own_size)
    zoo = tmp_path / "zoo.yaml"
    zoo.write_text("candidates:\n"
                   f"  - {{name: hf-hub:{ns}/levit, source: hf-hub, hub_id: {ns}/levit, architecture: levit_128s}}\n"
                   f"  - {{name: hf-hub:{ns}/cnn, source: hf-hub, hub_id: {ns}/cnn, architecture: test_efficientnet}}\n")
    out = tmp_path / "run"
    assert main(["run", "--dataset", "builtin:digits", "--zoo", str(zoo), "--train-limit", "64", "--eval-limit", "32",
                 "--rank-samples", "24", "--pool-size", "4", "--budget", "40s", "--max-epochs-total", "1",
                 "--output-dir", str(out)]) == 0
    assert f"hf-hub:{ns}/levit trains at its own input size only" in capfd.readouterr().err
    fitted = json.loads((out / "schedule.json").read_text())
    assert fitted["model"] == f"hf-hub:{ns}/cnn" and fitted["native_image_size"] == 160
    assert fitted["image_size"] == json.loads((out / "settings.json").read_text())["image_size"] == 32
    assert json.loads((out / "trials" / "0000" / "trial.json").read_text())["candidate"] == f"hf-hub:{ns}/cnn"


@pytest.mark.hub
def test_a_hub_model_shaped_by_its_config_is_rebuilt_for_its_checkpoint_and_export(hub_transformers, tmp_path):
    """A Hub model whose ``config.json`` carries ``model_args`` (here a LeViT of other widths than the
    architecture's defaults) is rebuilt with them: the run's export crashed rebuilding it from its name alone."""
    import timm
    from conftest import make_dataset

    from hf_quicktune.train import Trial, export_trial, load_model

    ns, _ = hub_transformers
    cand = Candidate(f"hf-hub:{ns}/levit", "levit_128s", source="hf-hub", hub_id=f"{ns}/levit")
    data = make_dataset(num_classes=3, n_train=6, n_val=3, size=16)
    trial = Trial(tmp_path / "t", cand, {"lr": 1e-3, "batch_size": 3}, data, max_epochs=1, num_workers=0)
    trial.advance(1)
    info = json.loads(next((tmp_path / "t").glob("checkpoint-*/trainer_state.json")).read_text())
    assert info["model_args"]["embed_dim"] == list(TINY_LEVIT["embed_dim"])  # recorded by timm's factory
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = load_model(tmp_path / "t", cand)(x)
        torch.testing.assert_close(load_model(tmp_path / "t")(x), expected)  # from the checkpoint alone
        again = timm.create_model(f"local-dir:{export_trial(tmp_path / 't', tmp_path / 'export')}", pretrained=True)
        torch.testing.assert_close(again.eval()(x), expected)
