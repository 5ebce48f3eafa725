"""Bad-input corpus (issue 14): every case goes through the CLI in-process (``hf_quicktune.cli.main``) and must
end with exit code 2, no traceback, and one message that names the bad input and says what to do.

Cases: datasets (missing, empty, one class, no classes, corrupt / truncated / huge images, unlabelled, non-UTF-8
CSV, wrong columns, bad split maps), options (garbage numbers, contradictory options, unknown zoo, model, score,
bad recipe YAML), the Hub (bad repo ids, missing repos and revisions, bad or missing token, offline) and output
directories (a file, under a file, unwritable, a non-run directory on resume). Data-level cases of
``data inspect`` alone live in tests/data/test_bad_inputs.py; here they go through ``run`` and the other commands.
Most cases fail before any model is built; the whole file runs in seconds.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from hf_quicktune.cli import main

BAD_TOKEN = "hf_corpusBADtoken_0123456789abcdef"


# ------------------------------------------------------------------------------------------- builders


def _image(seed: int, size: int = 16, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (size, size, 3)).astype(np.uint8)).convert(mode)


def _folder(root: Path, per_class: dict[str, int], write: Callable[[Path, int], None] | None = None) -> Path:
    seed = 0
    for cls, n in per_class.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = root / cls / f"{cls}_{i}.png"
            (write or (lambda p, s: _image(s).save(p)))(path, seed)
            seed += 1
    root.mkdir(parents=True, exist_ok=True)
    return root


def _csv(tmp: Path, per_class: dict[str, int], name: str = "data.csv", label: str = "species", **extra) -> Path:
    rows = []
    seed = 0
    (tmp / "img").mkdir(parents=True, exist_ok=True)
    for cls, n in per_class.items():
        for i in range(n):
            rel = f"img/{cls}_{i}.png"
            _image(seed).save(tmp / rel)
            rows.append({"filepath": rel, label: cls, **{k: v[seed % len(v)] for k, v in extra.items()}})
            seed += 1
    path = tmp / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _truncated(path: Path, seed: int) -> None:
    buf = io.BytesIO()
    _image(seed, size=32).save(buf, format="PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # cut in the middle of the pixel data


def _huge_header(path: Path, seed: int) -> None:
    """A tiny PNG file whose header claims 30000 x 30000 pixels (a decompression bomb for PIL)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


def _run(dataset: str, tmp: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", dataset, "--zoo", "offline", "--max-trials", "1", "--output-dir", str(tmp / "out"),
            *extra]


@dataclass
class Case:
    """``build(tmp, ok_csv)`` returns the argv and the regexes the error must match: first the bad input's name,
    then the fix."""

    id: str
    build: Callable[[Path, Path], tuple[list[str], list[str]]]
    hub: bool = False


def case(id: str, hub: bool = False):
    def register(fn):
        CASES.append(Case(id, fn, hub))
        return fn
    return register


CASES: list[Case] = []

# ------------------------------------------------------------------------------------------- datasets


@case("dataset-missing-path")
def _(tmp, ok):
    missing = tmp / "nowhere" / "data.csv"
    return _run(str(missing), tmp), [re.escape(str(missing)), "Check the path"]


@case("dataset-empty-folder")
def _(tmp, ok):
    (tmp / "empty").mkdir()
    return _run(str(tmp / "empty"), tmp), [re.escape(str(tmp / "empty")), r"class sub-folders|CLASS/IMAGE"]


@case("dataset-one-class-folder")
def _(tmp, ok):
    root = _folder(tmp / "one", {"cat": 4})
    return _run(str(root), tmp), [re.escape(str(root)) + r" has one class \('cat'\)", "Add a folder of images"]


@case("dataset-folder-without-classes")
def _(tmp, ok):
    root = tmp / "flat"
    root.mkdir()
    for i in range(4):
        _image(i).save(root / f"{i}.png")
    return _run(str(root), tmp), [re.escape(str(root)) + " holds images but no class sub-folders",
                                  r"own folder \(path/CLASS/IMAGE.png\)"]


@case("dataset-one-class-csv")
def _(tmp, ok):
    path = _csv(tmp, {"cat": 6})
    return _run(str(path), tmp), [r"1 class\(es\) \(\['cat'\]", "at least 2"]


@case("dataset-corrupt-images")
def _(tmp, ok):
    root = _folder(tmp / "corrupt", {"cat": 3, "dog": 3},
                   write=lambda p, s: p.write_bytes(b"not a png") if s % 2 == 0 else _image(s).save(p))
    return _run(str(root), tmp), [r"cat_0\.png", "Fix or remove these files"]


@case("dataset-truncated-images")
def _(tmp, ok):
    root = _folder(tmp / "trunc", {"cat": 3, "dog": 3}, write=_truncated)
    return _run(str(root), tmp), [r"dog_0\.png", "Fix or remove these files"]


@case("dataset-huge-images")
def _(tmp, ok):
    root = _folder(tmp / "huge", {"cat": 3, "dog": 3}, write=_huge_header)
    return _run(str(root), tmp), [r"cat_0\.png.*(DecompressionBomb|exceeds limit)",
                                  r"6 of them are larger than Pillow's limit against decompression bombs.*downscale them"]


@case("dataset-unlabelled-rows")
def _(tmp, ok):
    path = _csv(tmp, {"cat": 3, "dog": 3})
    frame = pd.read_csv(path)
    frame.loc[[1, 4], "species"] = None
    frame.to_csv(path, index=False)
    return _run(str(path), tmp), [r"'species' of split 'train' has 2 missing value\(s\)", r"label|remove"]


@case("dataset-non-utf8-csv")
def _(tmp, ok):
    path = _csv(tmp, {"chat": 3, "hibou": 3})
    text = path.read_text().replace("hibou", "hibou-é")
    path.write_bytes(text.encode("latin-1"))
    return _run(str(path), tmp), [re.escape(str(path)) + r".*not UTF-8", "UTF-8"]


@case("dataset-empty-csv")
def _(tmp, ok):
    path = tmp / "empty.csv"
    path.write_text("filepath,species\n")
    return _run(str(path), tmp), [re.escape(str(path)) + " has no rows", r"Add one row per image"]


@case("dataset-no-image-column")
def _(tmp, ok):
    path = tmp / "n.csv"
    pd.DataFrame({"width": [1.5, 2.5], "label": [0, 1]}).to_csv(path, index=False)
    return _run(str(path), tmp), [r"No image column found.*\['width', 'label'\]", "--image-column"]


@case("dataset-ambiguous-label-column")
def _(tmp, ok):
    path = _csv(tmp, {"cat": 3, "dog": 3}, label="kind", colour=["red", "blue"])
    return _run(str(path), tmp), [r"No label column found.*'kind', 'colour'", "--label-column NAME"]


@case("option-label-column-not-a-column")
def _(tmp, ok):
    return _run(str(ok), tmp, "--label-column", "specie"), [r"'specie'", r"species"]


@case("option-image-column-not-a-column")
def _(tmp, ok):
    return _run(str(ok), tmp, "--image-column", "photo"), [r"'photo'", r"filepath"]


@case("option-image-and-label-column-the-same")
def _(tmp, ok):
    return _run(str(ok), tmp, "--image-column", "species", "--label-column", "species"), \
        [r"both name 'species'", r"the column of the images and the column of the classes"]


@case("option-image-column-not-images")
def _(tmp, ok):
    return _run(str(ok), tmp, "--image-column", "species", "--label-column", "filepath"), \
        [r"img/cat_0\.png|/cat: FileNotFound", r"check the image column holds real image files"]


@case("dataset-unsupported-file")
def _(tmp, ok):
    (tmp / "notes.txt").write_text("hello")
    return _run(str(tmp / "notes.txt"), tmp), [r"notes\.txt is a file of an unsupported type", "parquet, CSV"]


@case("dataset-tiny-classes")
def _(tmp, ok):
    """One image per class: no validation split can be carved (a single rare class trains with a warning)."""
    path = _csv(tmp, {"cat": 1, "dog": 1, "owl": 1})
    return _run(str(path), tmp), [r"no class has the 2 examples", r"--split validation=NAME"]


@case("dataset-unknown-builtin")
def _(tmp, ok):
    return _run("builtin:cifar10", tmp), [r"'builtin:cifar10'", "builtin:digits"]


@case("option-split-unknown-name")
def _(tmp, ok):
    return _run(str(ok), tmp, "--split", "validation=dev"), [r"validation=dev names a split that does not exist",
                                                            r"splits \['train'\].*--split validation=NAME"]


@case("option-split-bad-syntax")
def _(tmp, ok):
    return _run(str(ok), tmp, "--split", "validation"), [r"'validation'", r"--split validation=dev"]


@case("option-split-unknown-role")
def _(tmp, ok):
    return _run(str(ok), tmp, "--split", "holdout=train"), [r"'holdout=train'", r"ROLE one of train, validation, test"]


# ------------------------------------------------------------------------------------------- options


@case("option-budget-garbage")
def _(tmp, ok):
    return ["run", "--dataset", str(ok), "--budget", "soon"], [r"invalid budget 'soon'", r"30m"]


@case("option-budget-negative")
def _(tmp, ok):
    return ["run", "--dataset", str(ok), "--budget", "-5m"], [r"invalid budget '-5m'", r"30m"]


@case("option-no-budget")
def _(tmp, ok):
    return ["run", "--dataset", str(ok)], [r"no budget given", r"--budget \(e\.g\. 30m\), --max-trials"]


@case("option-no-dataset")
def _(tmp, ok):
    return ["run", "--budget", "1m"], [r"no dataset given", r"Pass --dataset"]


@case("option-top-k-zero")
def _(tmp, ok):
    return _run(str(ok), tmp, "--top-k", "0"), [r"--top-k must be >= 1, got 0", r"--top-k"]


@case("option-integer-garbage")
def _(tmp, ok):
    return _run(str(ok), tmp, "--max-epochs", "ten"), [r"'--max-epochs'", r"'ten' is not a valid integer"]


@case("option-float-garbage")
def _(tmp, ok):
    return _run(str(ok), tmp, "--val-fraction", "lots"), [r"'--val-fraction'", r"'lots' is not a valid float"]


@case("option-val-fraction-out-of-range")
def _(tmp, ok):
    return _run(str(ok), tmp, "--val-fraction", "1.5"), [r"--val-fraction must be between 0 and 1.*1\.5",
                                                         r"--val-fraction 0\.2"]


@case("option-fractions-contradict")
def _(tmp, ok):
    return _run(str(ok), tmp, "--val-fraction", "0.6", "--test-fraction", "0.5"), \
        [r"--val-fraction 0\.6 plus --test-fraction 0\.5", "Lower them"]


@case("option-initial-epochs-above-max")
def _(tmp, ok):
    return _run(str(ok), tmp, "--initial-epochs", "9", "--max-epochs", "3"), \
        [r"--initial-epochs 9 is more than --max-epochs 3", "lower it"]


@case("option-resume-without-output-dir")
def _(tmp, ok):
    return ["run", "--dataset", str(ok), "--budget", "1m", "--resume"], [r"--resume", r"--output-dir"]


@case("option-unknown-acquisition")
def _(tmp, ok):
    return _run(str(ok), tmp, "--acquisition", "greedy"), [r"'--acquisition'", r"'greedy' is not one of"]


@case("option-unknown-zoo")
def _(tmp, ok):
    return _run(str(ok), tmp, "--zoo", "no-such-zoo"), [r"no-such-zoo", r"hf-quicktune zoo|recipes/zoos"]


@case("option-unknown-model")
def _(tmp, ok):
    return ["finetune", "-d", str(ok), "-m", "no_such_arch_xyz", "-o", str(tmp / "ft")], \
        [r"'no_such_arch_xyz' is not a timm architecture", r"Check the spelling"]


@case("option-pickled-checkpoint")
def _(tmp, ok):
    import timm
    import torch

    ckpt = tmp / "test_efficientnet.pth"
    torch.save(timm.create_model("test_efficientnet", num_classes=2).state_dict(), ckpt)
    return ["finetune", "-d", str(ok), "-m", str(ckpt), "-o", str(tmp / "ft"), "--image-size", "32"], \
        [re.escape(str(ckpt)) + r" only has pickled PyTorch weights", r"--allow-pickle"]


@case("option-unknown-score")
def _(tmp, ok):
    return ["rank", "--dataset", str(ok), "--zoo", "offline", "--scores", "lfc,magic"], [r"magic", r"lfc|logme"]


@case("option-sort-by-not-scored")
def _(tmp, ok):
    return ["rank", "--dataset", str(ok), "--scores", "lfc", "--sort-by", "knn"], [r"--sort-by knn", "add it"]


@case("option-estimate-target-and-epochs")
def _(tmp, ok):
    return ["estimate", "--dataset", str(ok), "--model", "m", "--lr", "0.1", "--batch-size", "8", "--target-loss",
            "0.1", "--epochs", "2"], [r"--target-loss or --epochs", "not both"]


@case("option-finetune-set-syntax")
def _(tmp, ok):
    return ["finetune", "-d", str(ok), "-m", "m", "-o", str(tmp / "ft"), "--set", "lr"], \
        [r"--set expects KEY=VALUE.*'lr'", r"--set layer_decay=0\.75"]


@case("recipe-bad-yaml")
def _(tmp, ok):
    (tmp / "r.yaml").write_text("dataset: [unclosed\n")
    return ["run", "--recipe", str(tmp / "r.yaml")], [re.escape(str(tmp / "r.yaml")) + " is not valid YAML", "Fix"]


@case("recipe-unknown-key")
def _(tmp, ok):
    (tmp / "r.yaml").write_text("dataset: x\nbudgett: 1m\n")
    return ["run", "--recipe", str(tmp / "r.yaml")], [r"unknown key 'budgett'\. Did you mean 'budget'\?",
                                                       r"Known keys: .*budget"]


@case("recipe-not-a-mapping")
def _(tmp, ok):
    (tmp / "r.yaml").write_text("- dataset\n- budget\n")
    return ["run", "--recipe", str(tmp / "r.yaml")], [re.escape(str(tmp / "r.yaml")), "mapping of option: value"]


@case("recipe-missing-file")
def _(tmp, ok):
    return ["run", "--recipe", str(tmp / "nope.yaml")], [re.escape(str(tmp / "nope.yaml")) + "' not found",
                                                         "existing YAML path"]


@case("option-space-missing-file")
def _(tmp, ok):
    return _run(str(ok), tmp, "--space", str(tmp / "space.yaml")), [re.escape(str(tmp / "space.yaml")),
                                                                    "existing YAML path"]


# ------------------------------------------------------------------------------------------- Hub


@case("hub-push-bad-repo-id")
def _(tmp, ok):
    return _run(str(ok), tmp, "--push-to-hub", "not a repo"), [r"'not a repo' is not a repo id",
                                                                "org/model-name \\(or model-name: your own namespace\\)"]


@case("hub-push-bad-token", hub=True)
def _(tmp, ok):
    return _run(str(ok), tmp, "--push-to-hub", "qt-org/corpus-bad-token"), \
        [r"qt-org/corpus-bad-token.*token was refused", "HF_TOKEN"]


@case("hub-push-no-token")
def _(tmp, ok):
    return _run(str(ok), tmp, "--push-to-hub", "qt-org/corpus-no-token"), \
        [r"qt-org/corpus-no-token: no Hugging Face token", r"hf auth login"]


@case("hub-push-offline")
def _(tmp, ok):
    return _run(str(ok), tmp, "--push-to-hub", "qt-org/corpus-offline"), \
        [r"--push-to-hub qt-org/corpus-offline: the Hub is switched off \(HF_HUB_OFFLINE=1\)",
         r"Unset HF_HUB_OFFLINE.*or drop --push-to-hub"]


@case("hub-push-unreachable")
def _(tmp, ok):
    return _run(str(ok), tmp, "--push-to-hub", "qt-org/corpus-unreachable"), \
        [r"qt-org/corpus-unreachable.*does not answer", r"Check your network and HF_ENDPOINT"]


@case("hub-dataset-bad-id")
def _(tmp, ok):
    return _run("org/name/extra/more", tmp), [r"'org/name/extra/more'", r"Hub id|org/name"]


@case("hub-dataset-missing", hub=True)
def _(tmp, ok):
    return _run("qt-org/no-such-dataset-corpus", tmp), [r"Unknown dataset 'qt-org/no-such-dataset-corpus'",
                                                        r"Pass a Hub dataset id"]


@case("hub-dataset-offline")
def _(tmp, ok):
    return _run("qt-org/never-cached-corpus", tmp), [r"'qt-org/never-cached-corpus'.*cannot be reached",
                                                     r"Connect once"]


@case("hub-prior-missing", hub=True)
def _(tmp, ok):
    zoo = tmp / "one.yaml"  # one candidate: no ranking before the prior is loaded
    zoo.write_text("candidates:\n  - {name: scratch:test_efficientnet, source: scratch}\n")
    return _run(str(ok), tmp, "--prior", "qt-org/no-such-prior-corpus", "--zoo", str(zoo)), \
        [r"qt-org/no-such-prior-corpus", r"local prior|repo id"]


# ------------------------------------------------------------------------------------------- output dirs


@case("output-dir-is-a-file")
def _(tmp, ok):
    (tmp / "taken").write_text("x")
    return ["run", "--dataset", str(ok), "--budget", "1m", "--output-dir", str(tmp / "taken")], \
        [re.escape(str(tmp / "taken")) + " is a file", "Pass a folder path"]


@case("output-dir-under-a-file")
def _(tmp, ok):
    (tmp / "taken").write_text("x")
    target = tmp / "taken" / "run"
    return ["run", "--dataset", str(ok), "--budget", "1m", "--output-dir", str(target)], \
        [re.escape(str(target)) + " cannot be created: .*taken is a file", "parents are folders"]


@case("output-dir-unwritable")
def _(tmp, ok):
    target = "/sys/hf-quicktune-corpus/run"  # read-only even for root
    return ["run", "--dataset", str(ok), "--budget", "1m", "--output-dir", target], \
        [re.escape(target) + " cannot be written", "folder you can write to"]


@case("output-dir-resume-non-run-dir")
def _(tmp, ok):
    (tmp / "other").mkdir()
    (tmp / "other" / "notes.txt").write_text("mine")
    return ["run", "--dataset", str(ok), "--budget", "1m", "--resume", "--output-dir", str(tmp / "other")], \
        [re.escape(str(tmp / "other")) + r" \(settings\.json is missing\)", r"drop --resume"]


@case("output-dir-resume-damaged-settings")
def _(tmp, ok):
    (tmp / "run").mkdir()
    (tmp / "run" / "settings.json").write_text('{"dataset": "x", "budg')  # cut mid-write by an old version
    return ["run", "--resume", "--output-dir", str(tmp / "run")], \
        [re.escape(str(tmp / "run" / "settings.json")) + " is unreadable", "another --output-dir"]


@case("output-dir-not-empty-without-resume")
def _(tmp, ok):
    (tmp / "other").mkdir()
    (tmp / "other" / "notes.txt").write_text("mine")
    return ["run", "--dataset", str(ok), "--budget", "1m", "--output-dir", str(tmp / "other")], \
        [re.escape(str(tmp / "other")) + " already holds files", r"Pass --resume|another --output-dir"]


@case("finetune-output-dir-is-a-file")
def _(tmp, ok):
    (tmp / "taken").write_text("x")
    return ["finetune", "-d", str(ok), "-m", "m", "-o", str(tmp / "taken")], [r"'--output-dir'", r"is a file"]


@case("finetune-output-dir-under-a-file")
def _(tmp, ok):
    (tmp / "taken").write_text("x")
    return ["finetune", "-d", str(ok), "-m", "m", "-o", str(tmp / "taken" / "ft")], \
        [re.escape(str(tmp / "taken" / "ft")) + " cannot be created", "parents are folders"]


@case("rank-plot-under-a-file")
def _(tmp, ok):
    (tmp / "taken").write_text("x")
    return ["rank", "--dataset", str(ok), "--plot", str(tmp / "taken" / "rank.png")], \
        [r"--plot .*rank\.png cannot be created: .*taken is a file", r"parents are folders, e.g. --plot plots/plot\.png"]


@case("estimate-plot-is-a-folder")
def _(tmp, ok):
    return ["estimate", "--dataset", str(ok), "--model", "m", "--lr", "0.1", "--batch-size", "8", "--plot",
            str(tmp)], [r"'--plot': File '" + re.escape(str(tmp)), "is a directory"]


# ------------------------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def ok_csv(tmp_path_factory) -> Path:
    """A valid tiny dataset (2 classes x 6 images) for the option cases."""
    return _csv(tmp_path_factory.mktemp("ok"), {"cat": 6, "dog": 6})


@pytest.fixture
def corpus_env(request, monkeypatch):
    """Per-case environment: a bad token, no token, or an unreachable Hub, as the case needs."""
    c = request.node.callspec.params["c"]
    name = c.id
    if c.hub:  # start the session's Hub server (with the session token) before any case changes the token
        request.getfixturevalue("hub")
    if name == "hub-push-bad-token":
        monkeypatch.setenv("HF_TOKEN", BAD_TOKEN)
    if name == "hub-push-no-token":
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    if name in ("hub-dataset-offline", "hub-push-offline"):
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if name == "hub-push-unreachable":  # nothing listens there; the retries' waits are skipped
        import socket

        import huggingface_hub.constants as hc

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        monkeypatch.setattr(hc, "ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setattr("hf_quicktune.hub.time.sleep", lambda s: None)


def test_corpus_is_large_enough():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("c", [pytest.param(c, id=c.id, marks=[pytest.mark.hub] if c.hub else []) for c in CASES])
def test_bad_input(c: Case, tmp_path, ok_csv, corpus_env, capsys, request):
    if c.hub:
        request.getfixturevalue("hub")
    argv, patterns = c.build(tmp_path, ok_csv)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err[-2000:])
    assert "Traceback" not in out + err
    assert BAD_TOKEN not in out + err
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err  # one paragraph
    message = errors[0]
    for pattern in patterns:  # the input it names, then the fix
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


# ------------------------------------------------------------------------------------------- accepted inputs


def test_mixed_sizes_and_modes_are_accepted(tmp_path, capsys):
    """Not a bad input: every size and mode PIL decodes is converted by the transforms, nothing is refused."""
    import json

    from hf_quicktune.data import build_transform, load

    modes = [("RGB", 16, "png"), ("RGBA", 40, "png"), ("L", 23, "png"), ("P", 64, "png"), ("CMYK", 31, "jpg"),
             ("I;16", 18, "png"), ("1", 27, "png"), ("LA", 12, "png")]
    for cls in ("cat", "dog"):
        (tmp_path / "mixed" / cls).mkdir(parents=True)
        for i, (mode, size, ext) in enumerate(modes):
            img = _image(i + (0 if cls == "cat" else 50), size=size)
            img = img.convert("L").convert(mode) if mode in ("I;16", "1", "LA") else img.convert(mode)
            img.save(tmp_path / "mixed" / cls / f"{i}.{ext}")
    assert main(["data", "inspect", str(tmp_path / "mixed"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped_images"] == 0 and sum(summary["splits"].values()) == 2 * len(modes)
    data = load(str(tmp_path / "mixed"))
    tf = build_transform({"input_size": (3, 32, 32), "mean": (0.5,) * 3, "std": (0.5,) * 3, "crop_pct": 1.0,
                          "interpolation": "bilinear"}, train=False)
    shapes = {tuple(tf(row["image"]).shape) for split in data.splits.values() for row in split}
    assert shapes == {(3, 32, 32)}
