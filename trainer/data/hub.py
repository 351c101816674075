"""`--data hf:NAME[:CONFIG]`: a Hub data set's files, fetched as the app fetches its model (a bar of
bytes with rate and time left, resumable, the standard HF cache), then read by `datasets` from
that local copy.

`load_dataset(NAME)` would download the same files itself, with bars that count files and
downloads that start over when stopped. Here the data set card (README.md) is fetched first;
its `configs` say which files make the chosen configuration, and only those are fetched.
A card without `configs` gets every data file in the repository, as `datasets` would read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from arxiv_tui.runtime.fetch import FetchFailed, FetchProgress, fetch_repo

from .records import DataError, Record, Source, from_mapping

# ccdv/arxiv-classification stores labels as ints; these are its names, in order.
ARXIV_CLASSIFICATION_LABELS = (
    "math.AC",
    "cs.CV",
    "cs.AI",
    "cs.SY",
    "math.GR",
    "cs.CE",
    "cs.PL",
    "cs.IT",
    "cs.DS",
    "cs.NE",
    "math.ST",
)
# What `datasets` reads without a `configs` section (its packaged formats, compressed too).
DATA_PATTERNS = [
    f"*.{extension}{compression}"
    for extension in ("parquet", "arrow", "jsonl", "json", "csv", "tsv", "txt")
    for compression in ("", ".gz", ".zst", ".bz2", ".xz")
]


def _config_files(card: dict, name: str, config: str | None) -> list[str] | None:
    """The file patterns of the chosen configuration; None when the card has no `configs`."""
    configs = card.get("configs") or []
    if not configs:
        return None
    names = [entry.get("config_name", "default") for entry in configs]
    if config is not None:
        if config not in names:
            raise DataError(f"hf:{name} has no configuration {config!r} (it has: {', '.join(names)})")
        chosen = configs[names.index(config)]
    else:
        defaults = [entry for entry in configs if entry.get("default")]
        chosen = defaults[0] if defaults else configs[names.index("default")] if "default" in names else configs[0]
    files = chosen.get("data_files", [])
    patterns: list[str] = []
    for item in files if isinstance(files, list) else [files]:
        paths = item.get("path", []) if isinstance(item, dict) else item
        patterns += paths if isinstance(paths, list) else [paths]
    return patterns


def fetch_dataset(name: str, config: str | None, on_download: Callable[[FetchProgress], None] | None) -> Path:
    """The local snapshot of data set `name` holding its card and the files of `config`."""
    from huggingface_hub.repocard import metadata_load

    try:
        snapshot = fetch_repo(name, ["README.md"], None, repo_type="dataset")  # a few kB: no bar
        card = metadata_load(snapshot / "README.md") if (snapshot / "README.md").exists() else {}
        patterns = _config_files(card or {}, name, config) or DATA_PATTERNS
        return fetch_repo(name, ["README.md", *patterns], on_download, repo_type="dataset")
    except FetchFailed as failed:
        why = {
            "unreadable": f"no data set {name} there that you can read (a private or gated one needs HF_TOKEN)",
            "offline": "the Hub cannot be reached and the data set is not in the cache",
        }.get(failed.reason, str(failed))
        prefix = f"cannot load hf:{name}{':' + config if config else ''} from the Hugging Face Hub"
        raise DataError(f"{prefix}: {why}", exit_code=1) from None


def open_hub(spec: str, on_download: Callable[[FetchProgress], None] | None) -> Source:
    """A Hub data set's train split, fetched (see `fetch_dataset`) and read by `datasets`;
    whole papers are marked for abstract extraction."""
    name, _, config = spec.partition(":")
    if not name:
        raise DataError("hf: needs a data set name, as in hf:ccdv/arxiv-classification")
    try:
        import datasets
    except ImportError:
        raise DataError(
            "hf: sources need the `datasets` package: pip install 'arxiv-tui[train]'", exit_code=1
        ) from None
    snapshot = fetch_dataset(name, config or None, on_download)

    def records(source: Source) -> Iterator[Record]:
        datasets.disable_progress_bars()
        try:
            table = datasets.load_dataset(str(snapshot), config or None, split="train")
        except Exception as exc:  # noqa: BLE001 - datasets raises many types for files it cannot read
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot read hf:{spec}: {first_line}", exit_code=1) from None
        source.total = len(table)
        label_names = _label_names(table, name)
        for row in table:
            source.counted += 1
            if label_names is not None and isinstance(row.get("label"), int):
                row = {**row, "label": label_names[row["label"]]}
            record = from_mapping(row)
            if record is not None:
                yield record

    # The snapshot folder is named by the commit: the same files, the same data.
    return Source(f"hf:{spec}", records, None, "records", lambda: {"hf": spec, "commit": snapshot.name})


def _label_names(table, name: str) -> tuple[str, ...] | None:
    feature = getattr(table, "features", {}).get("label")
    names = getattr(feature, "names", None)
    if names:
        return tuple(names)
    return ARXIV_CLASSIFICATION_LABELS if name == "ccdv/arxiv-classification" else None
