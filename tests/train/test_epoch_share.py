"""An epoch of a share of the training images trains whole batches (train/step.epoch_batches), and the
share the planners choose sits on that batch grid (train/step.grid_fraction)."""

import math

import pytest
import torch
from torch.utils.data import TensorDataset

from hf_quicktune.train.loaders import make_loader, train_batches
from hf_quicktune.train.step import epoch_batches, grid_fraction


@pytest.mark.parametrize("images", [20, 33, 65, 100, 150, 481, 600])
@pytest.mark.parametrize("batch_size", [8, 32, 64])
def test_train_batches_is_the_shuffled_loaders_length(images, batch_size):
    data = TensorDataset(torch.zeros(images, 1))
    assert train_batches(images, batch_size) == len(make_loader(data, batch_size, shuffle=True, num_workers=0))


def test_an_epoch_trains_the_fewest_batches_that_reach_its_share_of_the_images():
    # 100 images at batch 32: batches of 32, 32, 32, 4
    assert [epoch_batches(4, f, images=100, batch_size=32) for f in (0.01, 0.32, 0.33, 0.64, 0.65, 0.96, 0.97)] == [
        1, 1, 2, 2, 3, 3, 4]
    assert epoch_batches(4, 1.0, images=100, batch_size=32) == 4
    assert epoch_batches(4, 0.3) == 2  # without the images: a share of the batches, rounded up


@pytest.mark.parametrize("images", [20, 33, 97, 100, 150, 481, 600, 1437])
@pytest.mark.parametrize("batch_size", [8, 16, 32, 64, 128])
def test_a_share_on_the_grid_is_what_the_epoch_trains_and_the_most_within_the_share(images, batch_size):
    whole = train_batches(images, batch_size)
    for step in range(1, 100):
        share = step / 100
        on_grid = grid_fraction(share, images, batch_size)
        batches = epoch_batches(whole, on_grid, images=images, batch_size=batch_size)
        trained = images if batches >= whole else batches * batch_size
        if on_grid < 1:
            assert trained == pytest.approx(on_grid * images)  # priced share == trained share
        if batches > 1 or whole == 1:  # one batch is the least an epoch trains
            assert trained <= share * images + 1e-9 or on_grid == 1.0 and batches == whole
        if batches < whole:  # and the next batch would exceed the share
            assert (batches + 1) * batch_size > share * images or batches + 1 == whole
    assert grid_fraction(1.0, images, batch_size) == 1.0


def test_a_share_that_covers_all_batches_but_the_partial_last_is_whole():
    # 100 images at 32: 3 full batches are 96 % of the images; 4 are all of them
    assert grid_fraction(0.99, 100, 32) == pytest.approx(0.96)
    assert grid_fraction(0.95, 100, 32) == pytest.approx(0.64)
    assert grid_fraction(0.1, 100, 32) == pytest.approx(0.32)  # at least one batch
    # 33 images at 32: the last batch of one is dropped, so one batch is the whole epoch
    assert grid_fraction(0.5, 33, 32) == 1.0 and math.isclose(grid_fraction(0.5, 64, 32), 0.5)
