"""The prepared-dataset contract shared by rank, estimate, train and run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import datasets


@dataclass(frozen=True)
class DatasetMeta:
    """Dataset meta-features used by the optimizer (Quick-Tune §4: #images, #classes, size, channels).

    Raw values; scaling is the surrogate's business (one scaler, used at meta-training and search).
    """

    num_train: int
    num_classes: int
    median_height: int
    median_width: int
    channels: int
    #: the sample's most common PIL mode (``RGB``, ``L``, ``I;16``...; None: no image): not a meta-feature, the
    #: card says from it how to prepare an image as training did
    image_mode: str | None = None
    #: the sample's most common file format as Pillow names it (``JPEG``, ``PNG``, ``DICOM``...; None: unknown):
    #: not a meta-feature, the card's usage opens a DICOM scan as training did
    image_format: str | None = None

    def to_dict(self) -> dict[str, int]:
        """The meta-features (without ``image_mode`` and ``image_format``)."""
        out = asdict(self)
        out.pop("image_mode")
        out.pop("image_format")
        return out


@dataclass
class PreparedDataset:
    """A resolved image-classification dataset, whatever its source.

    ``splits`` is a ``datasets.DatasetDict`` with ``train`` and ``validation`` (and ``test``
    when present or requested). Every split has exactly two columns: ``image`` (an ``Image``
    feature, decoded lazily) and ``label`` (a ``ClassLabel`` with the class names kept).
    """

    name: str
    splits: datasets.DatasetDict
    fingerprint: str
    meta: DatasetMeta
    source: str = "hub"  # hub | imagefolder | file | builtin
    skipped: int = 0  # undecodable images that were dropped
    info: dict[str, Any] = field(default_factory=dict)

    image_column = "image"
    label_column = "label"

    @property
    def class_names(self) -> list[str]:
        return list(self.splits["train"].features[self.label_column].names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def train(self) -> datasets.Dataset:
        return self.splits["train"]

    @property
    def validation(self) -> datasets.Dataset:
        return self.splits["validation"]

    @property
    def test(self) -> datasets.Dataset | None:
        return self.splits["test"] if "test" in self.splits else None
