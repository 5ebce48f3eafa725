"""A competition's submission, written in the format of its template (``predict --submission
sample_submission.csv``).

A Kaggle template's first column names the test images (``id_code``, ``ImageId``, ``file``, ``id``) and the others
what to predict: one column for the class (APTOS' ``diagnosis``, the Digit Recognizer's ``Label``), a column per
class for its probability (Plant Pathology's ``healthy, multiple_diseases, rust, scab``), or, for two classes, one
column for one class's probability: the second of two classes where it holds placeholder fractions (Dogs vs. Cats'
``label`` 0.5: 1 is a dog), the class a column is named after (``image,MEL`` of a skin-lesion model), or the class
``predict --probability-of`` names (SIIM-ISIC's ``target`` 0, scored on AUC: its placeholders are whole numbers, as
a class's would be; :func:`class_placeholder_note` says so when it is filled with classes). :func:`fill_template`
fills it from ``predict``'s rows in the template's row order and column names, matching each id to a table row's
key, or to an image file's name or stem (``test1/1.jpg`` is id ``1``; Plant Seedlings' ids are file names); a
table without an id column is numbered from 1 where the template's ids are 1 ... N (the Digit Recognizer's
``ImageId``).
A single column of space-separated classes (Humpback Whale Identification's ``new_whale w_23a388d ...``, Quick,
Draw!'s ``airplane angel alarm_clock``: competitions scored on the mean average precision at k) gets each image's
k most probable classes, most probable first (:func:`_ranked_k`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hf_quicktune.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def _keys(row: dict[str, Any]) -> list[str]:
    """The ids a predicted row answers to: a table row's key; an image file's name and stem."""
    if "key" in row:
        return [str(row["key"])]
    name = Path(str(row["path"]).rsplit(":", 1)[-1]).name
    return [name, Path(name).stem]


def _fractions(values: list[str]) -> bool:
    """Whether a template column holds numbers that are not all whole (placeholder probabilities, 0.5)."""
    try:
        numbers = [float(v) for v in values if v.strip()]
    except ValueError:
        return False
    return bool(numbers) and not all(n.is_integer() for n in numbers)


def _ranked_k(values: list[str], labels: list[str]) -> int | None:
    """k where a template column holds ranked top-k strings (``"w_1 w_2 w_3"``: k of the model's classes, or of
    their indices, separated by spaces, in every filled row), else None (one class per row; a class name with a
    space, Plant Seedlings' ``Sugar beet``, is one class)."""
    names = set(labels)
    filled = [v.split() for v in values if v.strip()]
    if not filled or any(v.strip() in names for v in values):
        return None
    k = len(filled[0])
    if k < 2 or any(len(tokens) != k for tokens in filled):
        return None
    sample = [t for tokens in filled[:200] for t in tokens]
    return k if all(t in names for t in sample) or all(t.isdigit() for t in sample) else None


def read_template(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        template = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise DatasetError(f"The submission template {path} cannot be read as a CSV ({err}).", input=str(path),
                           code="bad_template", fix="Pass the competition's sample_submission.csv.") from err
    if template.shape[1] < 2 or template.empty:
        raise DatasetError(f"The submission template {path} has {template.shape[1]} column(s) and {len(template)} "
                           "row(s): a template has an id column, what to predict and a row per test image.",
                           input=str(path), code="bad_template", fix="Pass the competition's sample_submission.csv.")
    return template


def fill_template(template: pd.DataFrame, rows: list[dict[str, Any]], labels: list[str],
                  where: str = "the template", probability_of: str | None = None) -> pd.DataFrame:
    """``template`` with its prediction columns filled from ``rows`` (``predict``'s, with every class in ``top``):
    the predicted class (its name; its index among ``labels`` where the template's column holds whole numbers and
    the class names are not numbers), each class's probability (a column per class), one class's probability (one
    column: :func:`probability_class`, ``probability_of`` where given), or the k most probable classes (one column
    of k classes). Raises :class:`DatasetError` for ids no row answers to, unreadable images, or columns that are
    neither."""
    id_column, targets = template.columns[0], list(template.columns[1:])
    kind = template_kind(template, labels, where, probability_of)
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        for key in _keys(row):
            by_key.setdefault(key, row)
    ids = list(template[id_column])
    if rows and all(r.get("key_name") == "row" for r in rows) and ids == [str(i) for i in range(1, len(rows) + 1)]:
        by_key = {str(r["key"] + 1): r for r in rows}  # a table without ids, numbered from 1 (Digit Recognizer)
    missing = [i for i in ids if i not in by_key]
    if missing:
        raise DatasetError(
            f"{len(missing)} of the {len(ids)} ids of {where} ({id_column}: {', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}) name no image classified here.", code="submission_ids",
            input=missing[:3], fix="Classify the competition's test images (its test folder, or the test.csv that "
                                   "names them) with this template.")
    unreadable = [i for i in ids if by_key[i]["error"]]
    if unreadable:
        raise DatasetError(f"{len(unreadable)} test image(s) of {where} could not be read ({unreadable[0]}: "
                           f"{by_key[unreadable[0]]['error']}).", code="submission_unreadable", input=unreadable[:3],
                           fix="Fix or replace those files: a submission needs a prediction for every id.")
    out = template.copy()
    chosen = [by_key[i] for i in ids]
    if kind == "per_class":  # a column per class: its probability
        for target in targets:
            out[target] = [f"{dict(r['top']).get(target, 0.0):.6f}" for r in chosen]
        return out
    values = list(template[targets[0]])
    if kind == "probability":  # one class's: Dogs vs. Cats' label 0.5 (1 = dog), SIIM-ISIC's target (melanoma)
        positive = probability_class(template, labels, probability_of)
        out[targets[0]] = [f"{dict(r['top']).get(positive, 0.0):.6f}" for r in chosen]
        return out
    as_index = all(t.lstrip("-").isdigit() for v in values for t in v.split()) and not all(
        name.isdigit() for name in labels)
    if kind == "ranked":  # MAP@k: the k most probable classes, by name, or by index where the template's are numbers
        k = _ranked_k(values, labels) or 1
        ranked = [sorted(r["top"], key=lambda pair: -pair[1])[:k] for r in chosen]
        out[targets[0]] = [" ".join(str(labels.index(c)) if as_index else c for c, _ in top) for top in ranked]
        return out
    out[targets[0]] = [str(labels.index(r["label"])) if as_index else r["label"] for r in chosen]
    return out


def probability_class(template: pd.DataFrame, labels: list[str], probability_of: str | None = None) -> str | None:
    """The class whose probability ``template``'s one prediction column asks for: ``probability_of`` (checked
    against ``labels``), else the class the column is named after, else the second of two classes where the column
    holds placeholder fractions (Dogs vs. Cats' 0.5); None where it asks for classes. Raises
    :class:`DatasetError` for a ``probability_of`` that is no class, or a template that is not one column."""
    targets = list(template.columns[1:])
    if probability_of is not None:
        if probability_of not in labels:
            raise DatasetError(
                f"--probability-of {probability_of}: the model has no such class (its classes: "
                f"{', '.join(labels[:10])}{', ...' if len(labels) > 10 else ''}).", code="bad_template",
                input=probability_of, fix="Name one of the model's classes, as its config.json's label names spell it.")
        if len(targets) != 1:
            raise DatasetError(
                f"--probability-of {probability_of}: the template has {len(targets)} columns to fill "
                f"({', '.join(targets[:6])}), where it names one class's probability in a single column.",
                code="bad_template", input=targets,
                fix="Leave --probability-of out: a template with a column per class gets each class's probability.")
        return probability_of
    if len(targets) != 1:
        return None
    if targets[0] in labels and not any(v.strip() in labels for v in template[targets[0]]):
        return targets[0]
    return labels[1] if len(labels) == 2 and _fractions(list(template[targets[0]])) else None


def class_placeholder_note(template: pd.DataFrame, labels: list[str], probability_of: str | None = None) -> str | None:
    """What to know where a two-class template's one column of whole-number placeholders (SIIM-ISIC's and
    Histopathologic Cancer Detection's ``0``) is filled with classes: such competitions are mostly scored on AUC
    or log loss, which want a probability, and the template cannot tell. None otherwise."""
    targets = list(template.columns[1:])
    if (len(labels) != 2 or len(targets) != 1 or probability_class(template, labels, probability_of) is not None
            or template_kind(template, labels, probability_of=probability_of) != "class"):
        return None
    values = [v for v in template[targets[0]] if v.strip()]
    if not values or not all(v.strip().lstrip("-").isdigit() for v in values):
        return None
    return (f"{targets[0]} was filled with each image's class ({labels[0]} / {labels[1]}, as its placeholders are "
            f"whole numbers); if the competition is scored on AUC or log loss, rerun with --probability-of "
            f"{labels[1]} for that class's probability.")


def template_kind(template: pd.DataFrame, labels: list[str], where: str = "the template",
                  probability_of: str | None = None) -> str:
    """What the columns after ``template``'s id column ask for, for a model of the classes ``labels``:
    ``per_class`` (a probability per class column), ``probability`` (one column for one class's probability:
    :func:`probability_class`), ``ranked`` (k classes separated by spaces) or ``class`` (one class per row). Raises
    :class:`DatasetError` where none fits: columns that are not the classes, or values that are several numbers
    per image (a detection competition's boxes, a segmentation's run-length masks), which a classifier cannot
    give."""
    targets = list(template.columns[1:])
    if probability_class(template, labels, probability_of) is not None:
        return "probability"
    if len(targets) >= 2 and set(targets) <= set(labels):
        return "per_class"
    if len(targets) == 1:
        values = list(template[targets[0]])
        if _ranked_k(values, labels) is not None:
            return "ranked"
        names = set(labels)
        several = [v for v in values if len(v.split()) > 1 and v.strip() not in names]
        if not several:
            return "class"
        raise DatasetError(
            f"The column {targets[0]} of {where} holds several values per image ({several[0]!r}) that are not "
            "classes of this model: boxes or masks (a detection or segmentation competition), which a classifier "
            "cannot give.", code="bad_template", input=targets,
            fix="Write the submission from predict's CSV (-o predictions.csv: each image's classes and "
                "probabilities) in the format the competition asks for.")
    raise DatasetError(
        f"The columns of {where} after its id column ({', '.join(targets)}) are neither one column for the class "
        f"nor a column per class of this model ({', '.join(labels[:6])}{', ...' if len(labels) > 6 else ''}).",
        code="bad_template", input=targets, fix="Pass the competition's sample_submission.csv, for a model trained on "
                                                "its classes.")
