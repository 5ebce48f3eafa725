"""Tables that name one image in several rows: a row per box or per reader (RSNA Pneumonia's
``stage_2_train_labels.csv``: a row per opacity box, VinBigData's: a row per radiologist and finding).

Read as they are, each image trains once per row (a class's share inflated by its number of boxes) and its copies
fall on both sides of the validation split (the score counts images the model trained on). Rows that repeat an image
*and* its label are one example; an image named with several labels is multi-label data, which a single-label
classifier cannot get all right: kept, and said.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import datasets

logger = logging.getLogger(__name__)


def drop_repeated_rows(splits: dict[str, datasets.Dataset], image_column: str, label_column: str,
                       ) -> dict[str, datasets.Dataset]:
    """Each split with the rows that repeat an earlier row's image (a path, an id or a URL) and label left out,
    with a warning; images named with more than one label are warned about and kept. Splits whose image column
    holds no strings (encoded images, pixels) are returned as they are."""
    import datasets

    out = dict(splits)
    for name, ds in splits.items():
        feature = ds.features.get(image_column)
        if not (isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")):
            continue
        frame = ds.select_columns([image_column, label_column]).to_pandas()
        try:
            repeated = frame.duplicated(keep="first")
        except TypeError:  # unhashable labels (lists: multi-label columns are told elsewhere)
            continue
        labels_per_image = frame[~repeated].groupby(image_column, sort=False)[label_column].nunique(dropna=False)
        several = labels_per_image[labels_per_image > 1]
        if len(several):
            example = several.index[0]
            shown = ", ".join(map(str, frame.loc[frame[image_column] == example, label_column].unique()[:4]))
            logger.warning(
                "%d image(s) of the '%s' split are named with more than one label in '%s' (e.g. %s: %s): "
                "multi-label data, which a single-label classifier cannot get all right; each is kept once per "
                "label. Give each image one label (its main finding) to train on one.", len(several), name,
                label_column, str(example).rsplit("/", 1)[-1], shown)
        if repeated.any():
            kept = (~repeated).to_numpy().nonzero()[0]
            logger.warning(
                "%d of the %d rows of the '%s' split repeat an earlier row's image and label (a table with a row per "
                "box or per reader?): each image is kept once with its label (%d rows), so it neither trains once "
                "per box nor falls on both sides of the validation split.", int(repeated.sum()), len(frame), name,
                len(kept))
            out[name] = ds.select(kept)
    return out
