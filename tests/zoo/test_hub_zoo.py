"""Hub-backed zoo behaviour against the local Hub server: query zoos, hf-hub candidates, pickle policy, cache."""

from __future__ import annotations

import logging
import uuid

import pytest
import torch

from hf_quicktune.errors import ZooError
from hf_quicktune.zoo import create_model, get_candidate, load_zoo
from hf_quicktune.zoo.availability import weights_status

pytestmark = pytest.mark.hub

CARD = "---\nlibrary_name: timm\npipeline_tag: image-classification\nlicense: {license}\n---\n# {name}\n"


def _upload_timm(hub, repo_id: str, arch: str, tmp_path, license: str = "mit", pickle_only: bool = False):
    import timm
    from timm.models import save_for_hf

    torch.manual_seed(len(repo_id))
    model = timm.create_model(arch).eval()
    d = tmp_path / repo_id.replace("/", "__")
    d.mkdir()
    save_for_hf(model, str(d), safe_serialization=not pickle_only)
    (d / "README.md").write_text(CARD.format(license=license, name=arch))
    hub.api.create_repo(repo_id)
    hub.api.upload_folder(repo_id=repo_id, folder_path=str(d))
    return model


@pytest.fixture(scope="module")
def zoo_repos(hub, tmp_path_factory):
    """A namespace of its own with three timm models of different sizes, one pickle-only, one transformers."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    tmp = tmp_path_factory.mktemp("hubzoo")
    ns = f"zoo-{uuid.uuid4().hex[:8]}"
    models = {
        f"{ns}/tiny-convnext": _upload_timm(hub, f"{ns}/tiny-convnext", "test_convnext", tmp, "apache-2.0"),
        f"{ns}/tiny-effnet": _upload_timm(hub, f"{ns}/tiny-effnet", "test_efficientnet", tmp),
        f"{ns}/tiny-resnet": _upload_timm(hub, f"{ns}/tiny-resnet", "test_resnet", tmp),
        f"{ns}/pickled": _upload_timm(hub, f"{ns}/pickled", "test_efficientnet", tmp, pickle_only=True),
    }
    vit = ViTForImageClassification(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=64, num_labels=4))
    vdir = tmp / "vit"
    vit.save_pretrained(vdir)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3,
                      resample=2).save_pretrained(vdir)
    hub.api.create_repo(f"{ns}/tiny-vit")
    hub.api.upload_folder(repo_id=f"{ns}/tiny-vit", folder_path=str(vdir))
    return ns, models


def test_hub_query_zoo(zoo_repos):
    ns, models = zoo_repos
    cands = load_zoo(f"hub:library=timm,pipeline_tag=image-classification,sort=downloads,limit=30,"
                     f"max_params=400K,author={ns}", drop_unavailable=False)
    names = sorted(c.name for c in cands)
    # test_resnet (470k) is above the bound, the pickled repo has no safetensors count, ViT is transformers
    assert names == [f"hf-hub:{ns}/tiny-convnext", f"hf-hub:{ns}/tiny-effnet"]
    by_name = {c.name: c for c in cands}
    conv = by_name[f"hf-hub:{ns}/tiny-convnext"]
    expected = sum(p.numel() for p in models[f"{ns}/tiny-convnext"].state_dict().values()
                   if p.dtype.is_floating_point)
    assert conv.num_params == expected
    assert conv.license == "apache-2.0" and conv.weights == "hub-only" and conv.input_size == (3, 160, 160)
    everything = load_zoo(f"hub:library=timm,limit=30,author={ns}", drop_unavailable=False)
    assert f"hf-hub:{ns}/tiny-resnet" in {c.name for c in everything}
    tf = load_zoo(f"hub:library=transformers,author={ns}", drop_unavailable=False)
    assert [c.library for c in tf] == ["transformers"] and tf[0].num_params > 0


def test_hub_query_no_match(zoo_repos):
    ns, _ = zoo_repos
    with pytest.raises(ZooError, match="matched no model"):
        load_zoo(f"hub:library=timm,max_params=1K,author={ns}")


def test_hf_hub_candidate_loads_safetensors_and_is_cached(zoo_repos, monkeypatch, tmp_path, caplog):
    ns, models = zoo_repos
    repo = f"{ns}/tiny-effnet"
    cand = get_candidate(f"hf-hub:{repo}")
    assert cand.weights == "hub-only"
    model = create_model(cand, num_classes=3).eval()
    ref = models[repo].state_dict()
    assert torch.equal(model.state_dict()["conv_stem.weight"], ref["conv_stem.weight"])
    assert model.num_classes == 3
    assert weights_status(cand) == "cached"
    # offline: the cached one stays, the never-downloaded one is dropped with one line
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = tmp_path / "z.yaml"
    path.write_text(f"candidates:\n  - {{name: hf-hub:{repo}, source: hf-hub, hub_id: {repo}}}\n"
                    f"  - {{name: hf-hub:{ns}/tiny-resnet, source: hf-hub, hub_id: {ns}/tiny-resnet}}\n")
    with caplog.at_level(logging.WARNING, logger="hf_quicktune.zoo"):
        kept = load_zoo(str(path))
    assert [c.name for c in kept] == [f"hf-hub:{repo}"] and kept[0].weights == "cached"
    assert sum("dropping candidate" in r.getMessage() for r in caplog.records) == 1
    offline_model = create_model(kept[0])
    assert torch.equal(offline_model.state_dict()["conv_stem.weight"], ref["conv_stem.weight"])


def test_a_hub_candidate_named_by_its_repo_takes_its_architecture_and_preprocessing_from_it(zoo_repos, monkeypatch):
    """``hf-hub:org/name`` on the command line used to be ranked and trained with ImageNet's 224 px preprocessing
    and the repo's name as its architecture, whatever the model was pretrained with."""
    ns, models = zoo_repos
    conv = get_candidate(f"hf-hub:{ns}/tiny-convnext")
    assert (conv.architecture, conv.library, conv.input_size) == ("test_convnext", "timm", (3, 160, 160))
    assert conv.data_config() == {k: (tuple(v) if isinstance(v, list) else v) for k, v in
                                  models[f"{ns}/tiny-convnext"].pretrained_cfg.items() if k in conv.data_config()}
    vit = get_candidate(f"hf-hub:{ns}/tiny-vit")  # a transformers model: its class and its image processor
    assert (vit.library, vit.architecture) == ("transformers", "ViTForImageClassification")
    assert vit.data_config() == {"input_size": (3, 32, 32), "mean": (0.5,) * 3, "std": (0.5,) * 3,
                                 "interpolation": "bilinear", "crop_pct": 1.0}
    assert create_model(vit, num_classes=3)(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline, the cached config.json answers
    assert get_candidate(f"hf-hub:{ns}/tiny-convnext").architecture == "test_convnext"


def test_pickled_hub_checkpoint_refused_unless_allowed(zoo_repos):
    ns, models = zoo_repos
    cand = get_candidate(f"hf-hub:{ns}/pickled")
    with pytest.raises(ZooError, match="pickled PyTorch weights.*--allow-pickle"):
        create_model(cand)
    model = create_model(cand, allow_pickle=True)
    assert torch.equal(model.state_dict()["conv_stem.weight"], models[f"{ns}/pickled"].state_dict()["conv_stem.weight"])


def test_unknown_hub_model(hub):
    with pytest.raises(ZooError, match="does not exist"):
        create_model(get_candidate("hf-hub:nobody-here/no-model"))


def test_timm_tagged_candidate_downloads_from_its_hub_repo(hub, tmp_path):
    """A timm name with a pretrained tag resolves to timm's Hub repo and loads its safetensors."""
    import timm
    from timm.models import save_for_hf

    cand = get_candidate("test_efficientnet.r160_in1k")
    assert cand.hub_id == "timm/test_efficientnet.r160_in1k" and cand.input_size == (3, 160, 160)
    torch.manual_seed(1)
    ref = timm.create_model("test_efficientnet").eval()
    save_for_hf(ref, str(tmp_path), safe_serialization=True)
    hub.api.create_repo(cand.hub_id, exist_ok=True)
    hub.api.upload_folder(repo_id=cand.hub_id, folder_path=str(tmp_path))
    model = create_model(cand).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5)
    assert create_model(cand, num_classes=2).num_classes == 2
