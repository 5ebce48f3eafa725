"""Image URLs (a web-scraped set's CSV) are downloaded once into the cache (hf_quicktune/data/downloads.py), from a
local HTTP server here: the dataset loads, a second load makes no request, failed URLs are left out or stop the
load, other schemes are refused with what to do."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hf_quicktune.data import load
from hf_quicktune.errors import DatasetError

from .conftest import make_image


@pytest.fixture
def server(tmp_path):
    """A local HTTP server of ``tmp_path / 'www'``; ``requests`` lists the paths asked for."""
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            if self.path.startswith("/busy-") and requests.count(self.path) == 1:  # a server overloaded once
                self.send_error(503)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def _table(tmp_path: Path, root: Path, base: str, n: int = 12, missing: int = 0) -> tuple[Path, list[np.ndarray]]:
    rows, pictures = [], []
    for i in range(n):
        image = make_image((200, 30, 30) if i % 2 else (30, 30, 200), i)
        if i >= missing:
            image.save(root / f"{i}.png")
        pictures.append(np.asarray(image))
        rows.append((f"{base}/{i}.png?w=16", "red" if i % 2 else "blue"))
    path = tmp_path / "scraped.csv"
    pd.DataFrame(rows, columns=["image_url", "label"]).to_csv(path, index=False)
    return path, pictures


def test_urls_are_downloaded_once_and_read_as_the_images(tmp_path, server):
    root, base, requests = server
    path, pictures = _table(tmp_path, root, base)
    prepared = load(str(path))
    assert prepared.info["image_column"] == "image_url" and prepared.class_names == ["blue", "red"]
    got = {np.asarray(prepared.train[i]["image"]).tobytes() for i in range(len(prepared.train))}
    got |= {np.asarray(prepared.validation[i]["image"]).tobytes() for i in range(len(prepared.validation))}
    assert got == {p.tobytes() for p in pictures}
    assert sorted(requests) == sorted(f"/{i}.png?w=16" for i in range(12))
    load(str(path))  # again: from the cache, no request
    assert len(requests) == 12


def test_a_few_failed_urls_are_left_out_and_many_stop_the_load(tmp_path, server, refused_url, caplog):
    root, base, _ = server
    path, _ = _table(tmp_path, root, base, n=40, missing=1)  # 1 of 40 gone (404): 2.5 %
    with caplog.at_level("WARNING"):
        prepared = load(str(path))
    assert len(prepared.train) + len(prepared.validation) == 39
    assert "1 of 40 image URLs of the column 'image_url' could not be downloaded and are left out" in caplog.text
    path, _ = _table(tmp_path, root, f"{refused_url}/gone", n=12)  # nothing listens there (the network down)
    with pytest.raises(DatasetError, match=r"12 of 12 image URLs of the column 'image_url' could not be downloaded"):
        load(str(path))


def test_other_schemes_say_what_to_do(tmp_path):
    pd.DataFrame({"url": [f"s3://bucket/{i}.jpg" for i in range(6)], "label": ["a", "b"] * 3}).to_csv(
        tmp_path / "s3.csv", index=False)
    with pytest.raises(DatasetError, match=r"not http\(s\).*aws s3 cp"):
        load(str(tmp_path / "s3.csv"))


def test_a_server_failing_once_is_tried_again(tmp_path, server):
    root, base, requests = server
    for i in range(6):
        make_image((200, 30, 30) if i % 2 == 0 else (30, 30, 200), i).save(root / f"busy-{i}.png")
    pd.DataFrame({"image_url": [f"{base}/busy-{i}.png" for i in range(6)],
                  "label": ["red", "blue"] * 3}).to_csv(tmp_path / "busy.csv", index=False)
    prepared = load(str(tmp_path / "busy.csv"), val_fraction=0.34)
    assert len(prepared.train) + len(prepared.validation) == 6
    assert sorted(requests) == sorted([f"/busy-{i}.png" for i in range(6)] * 2)  # a 503, then the image


def test_a_limited_load_downloads_only_the_images_it_keeps(tmp_path, server):
    """A scraped table of 60 URLs under --train-limit 8 / --eval-limit 2: 1.5 x max(8 / 0.8, 2 / 0.2) = 15 rows
    kept, stratified by class, before anything is downloaded; the rest are never asked for."""
    root, base, requests = server
    path, _ = _table(tmp_path, root, base, n=60)
    prepared = load(str(path), train_limit=8, eval_limit=2)
    assert len(prepared.train) + len(prepared.validation) == 15 and len(requests) == 15
    assert prepared.info["drawn_rows"] == {"train": [15, 60]} and prepared.class_names == ["blue", "red"]
    assert sorted(np.bincount(prepared.train["label"]) + np.bincount(prepared.validation["label"])) == [7, 8]
