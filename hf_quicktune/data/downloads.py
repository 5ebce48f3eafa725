"""Images named by http(s) URLs (a web-scraped set's CSV, a labelling tool's export), downloaded once.

datasets' ``Image`` feature would fetch a URL again at every access of every epoch, where the network allows it at
all; hf-quicktune refused such a column before. Now each URL is downloaded once, concurrently, into hf-quicktune's
cache (``downloads/``, named by a hash of the URL: a later run, or its ``--resume``, reads it there) and the column
holds the local paths. A download is written to a temporary file and renamed, so an interrupted one is never read
as an image. A server's own failure (5xx, 429) or a timeout is tried again twice; URLs that still fail (gone,
refused, no network) are left out with a warning naming the first errors; when more than
:data:`~hf_quicktune.data.images.MAX_BAD_FRACTION` of them fail, the load stops and says so, as for undecodable
files. Other schemes (``s3://``, ``hf://``) are refused with what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hf_quicktune.constants import cache_dir
from hf_quicktune.errors import DatasetError
from hf_quicktune.hub import TRANSIENT_STATUS

logger = logging.getLogger(__name__)

#: the cache part holding downloaded images (``hf-quicktune cache clear downloads``)
PART = "downloads"
#: downloads at once (I/O-bound: threads), and seconds a server may take to answer
THREADS = 16
TIMEOUT_S = 30.0
#: tries of a URL whose server failed (408, 429, 5xx: the statuses the Hub's requests are retried on) or timed out
ATTEMPTS = 3
#: the progress task the run's reporter shows
PROGRESS_TASK = "downloading images"
_URL = re.compile(r"[a-zA-Z][\w+.-]*://")


def is_url(value: object) -> bool:
    return isinstance(value, str) and _URL.match(value) is not None


def local_path(url: str) -> Path:
    """Where ``url``'s image is kept in the cache (its extension kept when it has a short one)."""
    digest = hashlib.blake2b(url.encode(), digest_size=16).hexdigest()
    suffix = Path(url.split("?", 1)[0].split("#", 1)[0]).suffix.lower()
    return cache_dir() / PART / digest[:2] / (digest + (suffix if re.fullmatch(r"\.\w{1,5}", suffix) else ""))


def _download(url: str) -> str | None:
    """Fetch ``url`` into the cache unless it is there; the error text when it fails."""
    path = local_path(url)
    if path.is_file():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    request = urllib.request.Request(url, headers={"User-Agent": "hf-quicktune"})
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, tmp.open("wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            tmp.replace(path)
            return None
        except (urllib.error.URLError, OSError, ValueError) as err:  # HTTP errors, refused, timeouts, a bad URL
            tmp.unlink(missing_ok=True)
            error = f"{type(err).__name__}: {getattr(err, 'reason', None) or err}"
            # a server's own failure (hub.TRANSIENT_STATUS: 408, 429, 5xx) or a timeout may pass; a 404, a bad URL or
            # a refusal will not
            transient = err.code in TRANSIENT_STATUS if isinstance(err, urllib.error.HTTPError) else isinstance(
                getattr(err, "reason", err), TimeoutError)
            if not transient or attempt == ATTEMPTS:
                return error
            time.sleep(0.5 * attempt)
    return None


def download(urls: list[str], progress: Callable[[str, int, int | None, int | None], None] | None = None
             ) -> dict[str, str]:
    """URL -> the error of each URL that could not be downloaded (the others are in the cache at
    :func:`local_path`). Refuses non-http(s) schemes."""
    other = [u for u in urls if not u.lower().startswith(("http://", "https://"))]
    if other:
        raise DatasetError(
            f"{len(other)} image URL(s) are not http(s) (e.g. {other[0]!r}); hf-quicktune downloads http(s) URLs "
            "only.", input=other[0], code="image_urls",
            fix="Download those images first (`hf download` for hf:// paths, `aws s3 cp` / `gsutil cp` for buckets) "
                "and point the column at the local files.")
    todo = sorted({u for u in urls if not local_path(u).is_file()})
    if todo:
        logger.warning("downloading %d image(s) into %s (once: later runs read them there; `hf-quicktune cache "
                       "clear %s` removes them)", len(todo), cache_dir() / PART, PART)
    errors: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for done, (url, error) in enumerate(zip(todo, pool.map(_download, todo)), 1):
            if error is not None:
                errors[url] = error
            if progress is not None and (done % 64 == 0 or done == len(todo)):
                progress(PROGRESS_TASK, done, len(todo), done)
    return errors
