"""Data loaders of a trial: transforms from the candidate's timm data config, seeded shuffling.

Images are decoded and transformed lazily in DataLoader workers (``with_transform``), never
per sample in the training loop. The shuffling order of epoch ``e`` depends only on
``(seed, e)``, so a trial continued from a checkpoint sees the same batches as an
uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import torch
from torch.utils.data import DataLoader

logger = logging.getLogger(__name__)


def augmentation_spec(config: dict[str, Any]) -> dict[str, Any]:
    """The augmentation hyperparameters, as handed to the data package's ``build_transform``."""
    return {
        "data_augmentation": config["data_augmentation"],
        "ra_num_ops": config["ra_num_ops"],
        "ra_magnitude": config["ra_magnitude"],
        "auto_augment": config["auto_augment"],
    }


def data_config_for(data_config: dict[str, Any], image_size: int | None) -> dict[str, Any]:
    data_config = dict(data_config)
    if image_size:
        data_config["input_size"] = (3, int(image_size), int(image_size))
    return data_config


def build_transforms(data_config: dict[str, Any], config: dict[str, Any], image_size: int | None):
    """(train transform with the configured augmentation, eval transform)."""
    from hf_quicktune.data.transforms import build_transform

    train_tf = build_transform(data_config, train=True, augmentation=augmentation_spec(config),
                               image_size=image_size)
    eval_tf = build_transform(data_config, train=False, image_size=image_size)
    return train_tf, eval_tf


def torch_dataset(split, transform):
    """A map-style dataset of ``{"pixel_values", "label"}`` (data package's ``to_torch``)."""
    from hf_quicktune.data.transforms import to_torch

    return to_torch(split, transform)


def default_num_workers() -> int:
    """Loader workers: none on a 2-core machine (they would compete with the model), else a few."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus <= 2 else min(8, cpus // 2)


def make_loader(dataset, batch_size: int, *, shuffle: bool, seed: int = 0, epoch: int = 0,
                num_workers: int | None = None, pin_memory: bool = False) -> DataLoader:
    workers = default_num_workers() if num_workers is None else num_workers
    generator = None
    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(int(seed) * 1_000_003 + int(epoch))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        drop_last=shuffle and drops_last_batch(len(dataset), batch_size),
    )


def drops_last_batch(images: int, batch_size: int) -> bool:
    """Whether an epoch's shuffled training batches leave out the last one: a batch of one image breaks
    BatchNorm on 1x1 feature maps."""
    return images > 1 and images % batch_size == 1


def train_batches(images: int, batch_size: int) -> int:
    """The training batches of an epoch of ``images`` at ``batch_size`` (:func:`make_loader`'s, shuffled)."""
    return math.ceil(images / batch_size) - int(drops_last_batch(images, batch_size))


def limit_split(split, limit: int | None, seed: int):
    """A fixed random subset of ``limit`` examples (the same for every trial with this seed)."""
    if limit is None or limit >= len(split):
        return split
    return split.shuffle(seed=seed).select(range(int(limit)))
