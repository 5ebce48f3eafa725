"""The input size a budget too small for the models' own resolution trains at (``--image-size`` not given).

A practitioner whose budget buys a fraction of one epoch at 224 px does not start that epoch and stop it
unfinished: they train at a smaller input size, as fast recipes do to save compute (progressive resizing
trains its first epochs small; Touvron et al. 2019, "Fixing the train-test resolution discrepancy", measure
that a network trained and tested at half the resolution keeps most of its accuracy). A run whose budget is
too small to search does the same for its one fine-tune (:func:`choose_image_size`): when the schedule fitted
at the model's own size trains fewer than :data:`MIN_EPOCHS` epochs' worth of images, the size steps down by
multiples of 32 px until the budget buys them, never below :func:`least_size` (half the model's own size, or
the images' own size when they are smaller: an 8x8 digit holds nothing that 224 px adds but the scale the
pretrained features expect). The guess scales the epoch by the pixel count; the chosen size is then timed for
real (:func:`~hf_quicktune.run.timing.measure_reference`), and stepped down once more if that is still short.
(:data:`TIMED_EXPONENT`, off: one more size chosen by the exponent the two fitted sizes show, larger too.)
On a CPU the schedule at the model's own size may be priced from the ranking's forward passes rather than timed
(``native_bound``, :func:`hf_quicktune.run.plan._native_bound`): its epochs are then an upper bound, which the
messages say. The size is kept in ``settings.json`` (the trials, the export's ``input_size`` and a resumed run use it) and in
``schedule.json`` (``image_size``, ``native_image_size``, ``native_epochs``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

#: epochs' worth of training images (``max_epochs`` x ``epoch_fraction``) below which a no-search fine-tune at the
#: model's own size trains at a smaller one: one epoch or less stops fine-tuning before it has seen the data
#: twice, and its per-epoch cosine never decays (benchmarks/product_vs_finetune.py, digits-native, 2 minutes on 2
#: CPU cores: 0.6-0.7 of one epoch at 224 px reached 51.8-56.8 % validation top-1, 4-5 epochs at 96 px 96.9 %)
MIN_EPOCHS = 3
#: sizes are multiples of this (the networks' total stride)
SIZE_STEP = 32
#: the smallest size ever trained at
LEAST_SIZE = 32


def least_size(native: int, image_side: int) -> int:
    """The smallest size a budget may bring a model of ``native`` input size to, for images of ``image_side`` px
    (their median larger side; 0: unknown): half of ``native``, or the images' own size rounded up to
    :data:`SIZE_STEP` when that is smaller, and never below :data:`LEAST_SIZE`."""
    own = SIZE_STEP * math.ceil(image_side / SIZE_STEP) if image_side > 0 else native
    return max(LEAST_SIZE, min(native // 2, own))


def size_ladder(native: int, image_side: int) -> list[int]:
    """Sizes below ``native`` a budget may train at, largest first: the multiples of :data:`SIZE_STEP` from
    :func:`least_size` up."""
    floor = least_size(native, image_side)
    top = (native - 1) // SIZE_STEP * SIZE_STEP
    return list(range(top, floor - 1, -SIZE_STEP)) if top >= floor else []


def epochs_trained(schedule: dict[str, Any]) -> float:
    """Epochs' worth of training images a fitted schedule trains (``max_epochs`` x ``epoch_fraction``)."""
    return float(schedule["max_epochs"]) * float(schedule.get("epoch_fraction") or 1.0)


def _whole_epoch_seconds(schedule: dict[str, Any]) -> float | None:
    value = schedule.get("whole_epoch_seconds") or schedule.get("epoch_seconds")
    return float(value) if value else None


#: the exponent of the input size an epoch's epochs' worth is taken to scale with between two timed sizes
#: (:func:`size_exponent`) is kept within these bounds against timing noise
EXPONENT_BOUNDS = (1.0, 4.0)
#: True: the second size timed is chosen by the exponent the two fitted sizes show (:func:`size_exponent`), larger
#: when the first buys more epochs than it needs. Off (the pixel count, stepping down only): on builtin:digits with the
#: own size timed, 3-minute runs chose larger sizes with it (128 px where the pixel count chose 96 in 2 of 4 runs) and
#: spent an extra timing, and the whole runs were not better (validation top-1 98.3 / 98.9 % against 99.7 / 98.6 %,
#: the schedule stage 18.1 / 23.8 s against 16.2 / 15.0 s; benchmarks/native_bound.py, session 41)
TIMED_EXPONENT = False


def _guess(ladder: list[int], size: int, epoch_s: float, left: float) -> int:
    """The largest of ``ladder`` at which ``left`` seconds buy :data:`MIN_EPOCHS` epochs, an epoch at ``size``
    taking ``epoch_s`` and scaling with the pixel count (the smallest of ``ladder`` when none does)."""
    for s in ladder:
        if left / (epoch_s * (s / size) ** 2) >= MIN_EPOCHS:
            return s
    return ladder[-1]


def size_exponent(native: int, at_native: float, size: int, at_size: float) -> float:
    """``p`` in "the epochs' worth a budget buys scales as size^-p", from two fitted sizes (``native`` buying
    ``at_native``, ``size`` buying ``at_size``), within :data:`EXPONENT_BOUNDS`; 2 (the pixel count) when the two
    do not tell. On a CPU an epoch does not scale with the pixel count: a timed 224-px epoch of EfficientNet-Lite0
    on builtin:digits bought 1.1-1.4 epochs and 128 px 7.5-10.6 (p ~ 3; benchmarks/native_bound.py), so the
    pixel count's guess from the own size chooses a size smaller than the budget needs."""
    if not (native > size > 0 and at_native > 0 and at_size > 0):
        return 2.0
    p = math.log(at_size / at_native) / math.log(native / size)
    low, high = EXPONENT_BOUNDS
    return min(high, max(low, p))


def _best_on_ladder(ladder: list[int], size: int, at_size: float, p: float) -> int:
    """The largest of ``ladder`` (and ``size``) that buys :data:`MIN_EPOCHS` epochs' worth when ``size`` buys
    ``at_size`` and the worth scales as size^-``p``; the smallest of them when none does."""
    sizes = sorted({*ladder, size}, reverse=True)
    for s in sizes:
        if at_size * (size / s) ** p >= MIN_EPOCHS:
            return s
    return sizes[-1]


def choose_image_size(schedule: dict[str, Any], native: int, image_side: int,
                      fit_at: Callable[[int], dict[str, Any] | None]) -> tuple[int | None, dict[str, Any]]:
    """``(size, schedule)``: the input size a no-search fine-tune trains at and its schedule there, or
    ``(None, schedule)`` to keep the model's own ``native`` size. ``schedule``: the no-search schedule fitted at
    ``native`` (:func:`~hf_quicktune.run.schedule.fit_max_epochs`); ``fit_at(size)``: the same fitted at
    ``size``, timed there, or None when the model cannot train at ``size`` (a pretrained LeViT's attention
    biases are built for one resolution; ViTs are rebuilt for the size: :mod:`hf_quicktune.zoo.input_size`). At
    most two sizes are timed."""
    if schedule.get("search", True) or schedule.get("budget_left_s") is None:
        return None, schedule
    at_native = epochs_trained(schedule)
    ladder = size_ladder(native, image_side)
    epoch_s = _whole_epoch_seconds(schedule)
    if at_native >= MIN_EPOCHS or not ladder or not epoch_s:
        return None, schedule
    left = float(schedule["budget_left_s"]) - float(schedule.get("reserve_s") or 0.0)
    size = _guess(ladder, native, epoch_s, left)
    fitted = fit_at(size)
    if fitted is None:
        return None, schedule
    if TIMED_EXPONENT:  # the two fitted sizes say how the epochs scale with the size: a second size, larger
        # when the first buys more than it needs, smaller when it buys too few, is fitted (timed) once; a larger
        # one is kept only if it buys MIN_EPOCHS (its timing decides, not the guess)
        at_size = epochs_trained(fitted)
        second = _best_on_ladder(ladder, size, at_size, size_exponent(native, at_native, size, at_size))
        if second != size and (second < size or at_size >= MIN_EPOCHS):
            refitted = fit_at(second)
            if second < size or (refitted is not None and epochs_trained(refitted) >= MIN_EPOCHS):
                size, fitted = second, refitted
    elif epochs_trained(fitted) < MIN_EPOCHS and (smaller := [s for s in ladder if s < size]) \
            and (measured := _whole_epoch_seconds(fitted)):
        size = _guess(smaller, size, measured, left)
        fitted = fit_at(size)
    if fitted is None or epochs_trained(fitted) <= at_native:  # timing noise, or a cost pixels do not move
        return None, schedule
    fitted = {**fitted, "image_size": size, "native_image_size": native, "native_epochs": round(at_native, 4)}
    side = f"; the images are {image_side} px" if 0 < image_side < native else ""
    if schedule.get("native_bound"):  # priced from the ranking's forward passes: at most that many
        fitted["native_epochs_bound"] = True  # native_epochs is an upper bound
        buys = f"at most {at_native:.2f} epochs (priced from the ranking's forward passes)"
    else:
        buys = f"{at_native:.2f} epochs"
    fitted["why"] = (f"at {native} px (the model's own size) the budget buys {buys}, fewer than "
                     f"{MIN_EPOCHS}: it trains at {size} px instead{side} (pass --image-size to choose). "
                     + fitted["why"])
    return size, fitted
