"""The bad-input table: each case gives one clear DatasetError paragraph, and exit code 2 from the CLI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from hf_quicktune.cli import main
from hf_quicktune.data import load
from hf_quicktune.errors import DatasetError


def _csv(tmp_path: Path, name: str, frame: dict) -> Path:
    path = tmp_path / name
    pd.DataFrame(frame).to_csv(path, index=False)
    return path


def _case(name: str, tmp_path: Path, write_images, csv_dataset, refused_url: str) -> tuple[str, str]:
    """Build the bad input ``name``; return (spec, regex the message must match)."""
    if name == "unknown_path":
        return str(tmp_path / "missing" / "data.csv"), r"Unknown dataset .*no such file or directory"
    if name == "unknown_builtin":
        return "builtin:cifar10", r"Unknown built-in dataset 'builtin:cifar10'.*builtin:digits"
    if name == "unsupported_file":
        (tmp_path / "notes.txt").write_text("hello")
        return str(tmp_path / "notes.txt"), r"unsupported type \('\.txt'\)"
    if name == "no_image_column":
        return str(_csv(tmp_path, "n.csv", {"width": [1.5, 2.5, 3.5], "label": [0, 1, 0]})), \
            r"No image column found.*\['width', 'label'\].*--image-column"
    if name == "no_label_column":
        rows = write_images({"cat": 3, "dog": 3})
        return str(_csv(tmp_path, "n.csv", {"filepath": [r[0] for r in rows], "w": [1.0] * 6, "h": [2.0] * 6})), \
            r"No label column found.*--label-column"
    if name == "one_class":
        return str(csv_dataset({"cat": 6})), r"1 class\(es\) \(\['cat'\].*at least 2"
    if name == "tiny_class":
        return str(csv_dataset({"cat": 1, "dog": 1, "owl": 1})), r"no class has the 2 examples.*--split validation=NAME"
    if name == "mostly_corrupt":
        return str(csv_dataset({"cat": 6, "dog": 6, "owl": 6}, corrupt=3)), \
            r"3 of 18 images \(16\.7 %\) cannot be decoded.*cat_0\.png.*cat_2\.png"
    if name == "missing_labels":
        rows = write_images({"cat": 3, "dog": 3})
        labels = [r[1] for r in rows]
        labels[4] = None
        return str(_csv(tmp_path, "m.csv", {"filepath": [r[0] for r in rows], "label": labels})), \
            r"'label' of split 'train' has 1 missing value\(s\) \(rows \[4\]\)"
    if name == "image_urls":  # a web-scraped set's CSV: not "no such file", but what to do
        urls = [f"{refused_url}/img/{i}.jpg" for i in range(6)]  # nothing listens there: refused at once
        return str(_csv(tmp_path, "u.csv", {"url": urls, "label": ["cat", "dog"] * 3})), \
            r"6 of 6 image URLs of the column 'url' could not be downloaded.*download the images first"
    if name == "multi_label":  # detected, not only when named: a list-valued "labels" column says what it is
        import datasets

        feats = datasets.Features({"image": datasets.Image(),
                                   "labels": datasets.Sequence(datasets.ClassLabel(names=["cat", "dog", "owl"]))})
        rows = write_images({"cat": 3, "dog": 3})
        data = {"image": [str(tmp_path / r[0]) for r in rows], "labels": [[i % 3, (i + 1) % 3] for i in range(6)]}
        datasets.Dataset.from_dict(data, features=feats).to_parquet(str(tmp_path / "multi.parquet"))
        return str(tmp_path / "multi.parquet"), \
            r"label column 'labels' holds lists: 6 of its 6 rows hold several labels \(a multi-label set\); .*single-label"
    raise AssertionError(name)


CASES = ["unknown_path", "unknown_builtin", "unsupported_file", "no_image_column", "no_label_column",
         "one_class", "tiny_class", "mostly_corrupt", "missing_labels", "multi_label", "image_urls"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_clear_error(case, tmp_path, write_images, csv_dataset, refused_url):
    spec, pattern = _case(case, tmp_path, write_images, csv_dataset, refused_url)
    with pytest.raises(DatasetError, match=pattern):
        load(spec)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_via_cli_is_one_paragraph_exit_2(case, tmp_path, write_images, csv_dataset, refused_url, capsys):
    spec, pattern = _case(case, tmp_path, write_images, csv_dataset, refused_url)
    assert main(["data", "inspect", spec]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1 and err.rstrip().endswith(error_lines[0])  # one paragraph, last thing printed
    import re

    assert re.search(pattern, error_lines[0])


def test_few_corrupt_images_are_skipped_and_counted(csv_dataset, caplog):
    path = csv_dataset({"cat": 10, "dog": 10, "owl": 10}, corrupt=1)  # 1 of 30 = 3.3 % < 5 %
    with caplog.at_level("WARNING"):
        p = load(str(path))
    assert p.skipped == 1
    assert len(p.train) + len(p.validation) == 29
    assert any("cat_0.png" in r.getMessage() for r in caplog.records)
    for split in p.splits.values():  # every remaining image decodes
        for row in split:
            row["image"].load()


def test_class_names_that_differ_only_in_case_or_spaces_are_warned_about(tmp_path, write_images, caplog):
    rows = write_images({"cat": 9, "dog": 6})
    labels = ["cat", "Cat", "cat "] * 3 + ["dog"] * 6
    path = _csv(tmp_path, "typed.csv", {"file": [r[0] for r in rows], "label": labels})
    with caplog.at_level("WARNING"):
        prepared = load(str(path))
    assert sorted(prepared.class_names) == sorted(["cat", "Cat", "cat ", "dog"])  # kept as written
    assert "1 group(s) of classes in column 'label' differ only in letter case or spaces ('Cat' / 'cat' / " \
           "'cat ')" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        load(str(_csv(tmp_path, "clean.csv", {"file": [r[0] for r in rows], "label": ["cat"] * 9 + ["dog"] * 6})))
    assert "differ only in letter case" not in caplog.text


def test_classes_that_combine_a_few_labels_are_warned_about(tmp_path, write_images, caplog):
    """Planet's tags (haze primary, clear primary road, ...): a multi-label set read as combinations."""
    from itertools import combinations

    words = ["clear", "haze", "primary", "road", "water"]
    combos = [" ".join(c) for k in (2, 3) for c in combinations(words, k)]  # 20 combinations of 5 words
    rows = write_images({"img": 2 * len(combos)})
    path = _csv(tmp_path, "tags.csv", {"file": [r[0] for r in rows], "tags": combos * 2})
    with caplog.at_level("WARNING"):
        load(str(path), label_column="tags")
    assert "the 20 classes of column 'tags' are combinations of 5 words" in caplog.text
    caplog.clear()
    breeds = [f"{a} {b}" for a in ("golden", "great", "irish", "tibetan") for b in ("retriever", "dane")]
    rows = write_images({"dog": 2 * len(breeds)}, root="dogs")
    with caplog.at_level("WARNING"):
        load(str(_csv(tmp_path, "breeds.csv", {"file": [r[0] for r in rows], "label": breeds * 2})))
    assert "combinations of" not in caplog.text  # names of two words, as many words as names: classes


def test_cli_inspect_prints_splits_classes_meta(csv_dataset, capsys):
    path = csv_dataset()
    assert main(["data", "inspect", str(path), "--val-fraction", "0.34", "--test-fraction", "0.1"]) == 0
    out = capsys.readouterr().out
    for word in ("Splits", "train", "validation", "test", "Classes (3)", "owl", "Meta-features",
                 "num_train", "median_height", "filepath", "species"):
        assert word in out, word


def test_cli_inspect_prints_names_with_square_brackets_as_they_are(tmp_path, write_images, capsys):
    """rich read ``cat [indoor]`` as markup and printed ``cat``."""
    write_images({"cat [indoor]": 6, "dog [b]": 6}, root="[pets]")
    assert main(["data", "inspect", str(tmp_path / "[pets]")]) == 0
    out = capsys.readouterr().out
    assert "cat [indoor]" in out and "dog [b]" in out and "[pets]" in out


def test_cli_inspect_json_and_split_option(tmp_path, write_images, capsys):
    import json

    write_images({"cat": 3, "dog": 3}, root="d/train")
    write_images({"cat": 2, "dog": 2}, root="d/holdout")
    assert main(["data", "inspect", str(tmp_path / "d"), "--split", "validation=holdout", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["splits"] == {"train": 6, "validation": 4}
    assert summary["source_splits"] == {"train": "train", "validation": "holdout"}
    assert summary["meta"]["num_classes"] == 2
    assert main(["data", "inspect", str(tmp_path / "d"), "--split", "validation"]) == 2
    assert "ROLE=NAME" in capsys.readouterr().err


def test_cli_inspect_takes_the_dataset_as_argument_or_as_d_like_the_other_commands(tmp_path, write_images, capsys):
    import json

    write_images({"cat": 3, "dog": 3}, root="d")
    assert main(["data", "inspect", "-d", str(tmp_path / "d"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["train"] > 0
    assert main(["data", "inspect", str(tmp_path / "d"), "--dataset", str(tmp_path / "d"), "--json"]) == 0
    capsys.readouterr()
    assert main(["data", "inspect", str(tmp_path / "d"), "-d", "builtin:digits"]) == 2
    assert "two datasets given" in capsys.readouterr().err
    assert main(["data", "inspect"]) == 2
    assert "name a dataset" in capsys.readouterr().err
