"""The lake's layout: the one place that says where each zone, dataset and daily partition lives.

A partition is ``{root}/{zone}/{dataset}/date=YYYY-MM-DD`` (a species level below it where the inputs
say their species), addressed by URI:

- ``local`` profile: ``file://`` under the git-ignored ``var/lake/`` (``$CODING_POTENTIAL_LAKE``
  overrides, as a URI or a plain path);
- ``azure`` profile: ``abfss://{container}@{account}.dfs.core.windows.net/{prefix}`` (ADLS Gen2), from
  ``$CODING_POTENTIAL_ADLS_ACCOUNT``, ``$CODING_POTENTIAL_ADLS_CONTAINER`` (default ``lake``) and
  ``$CODING_POTENTIAL_ADLS_PREFIX`` (default none).

Zones, in the order data moves through them (models live in MLflow, not here):

``landing``      where the day's FASTA arrives (a Blob Storage container in production)
``raw``          the ingested FASTA files, unchanged, with ``_inputs.json`` saying what they are
``validated``    valid records (Parquet, with their sequences)
``quarantine``   rejected records, one row each with the reason, and the run's reconciliation summary
``features``     model-independent features of every validated record (Parquet)
``predictions``  coding probabilities, with the model name and version that produced them (Parquet)
"""

from __future__ import annotations

import os
import re
from datetime import date as Date
from pathlib import Path
from urllib.parse import unquote, urlparse

from coding_potential import config

ZONES = ("landing", "raw", "validated", "quarantine", "features", "predictions")
#: ``scoring``: the daily batches; ``training``: the labelled sets of a training run.
DATASETS = ("scoring", "training")
#: The listing of a raw partition: one entry per file (name, label, species, where it came from).
INPUTS_FILE = "_inputs.json"
#: A job's reconciliation summary, inside the quarantine partition it describes.
SUMMARY_FILE = "_summary.json"

_ADLS_HOST = re.compile(r"^[a-z0-9]{3,24}$")


def root(profile: str | None = None) -> str:
    """The lake's root URI for a profile (default: the active one), with no trailing slash."""
    from . import settings

    profile = profile or settings.profile()
    configured = os.environ.get("CODING_POTENTIAL_LAKE")
    if configured:
        return as_uri(configured)
    if profile == "azure":
        account = os.environ.get("CODING_POTENTIAL_ADLS_ACCOUNT", "")
        if not _ADLS_HOST.match(account):
            raise ValueError("the azure profile needs CODING_POTENTIAL_ADLS_ACCOUNT, a storage account name "
                             f"(3-24 lower-case letters or digits), not {account!r}")
        container = os.environ.get("CODING_POTENTIAL_ADLS_CONTAINER", "lake")
        prefix = os.environ.get("CODING_POTENTIAL_ADLS_PREFIX", "").strip("/")
        return f"abfss://{container}@{account}.dfs.core.windows.net" + (f"/{prefix}" if prefix else "")
    return as_uri(config.var_dir() / "lake")


def as_uri(location: str | os.PathLike[str]) -> str:
    """A URI for ``location``: URIs are kept (trailing ``/`` dropped), paths become absolute ``file://``."""
    text = str(location)
    if re.match(r"^[a-z][a-z0-9+.-]*://", text):
        return text.rstrip("/")
    return Path(text).expanduser().resolve().as_uri()


def partition(zone: str, dataset: str, date: str, lake: str | None = None) -> str:
    """URI of one zone's partition for one dataset and logical date.

    Raises
    ------
    ValueError
        For an unknown zone or dataset, or a date that is not ``YYYY-MM-DD``.
    """
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; zones: {', '.join(ZONES)}")
    if dataset not in DATASETS:
        raise ValueError(f"unknown lake dataset {dataset!r}; datasets: {', '.join(DATASETS)}")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date or ""):
        raise ValueError(f"logical date must be YYYY-MM-DD, not {date!r}")
    Date.fromisoformat(date)
    return f"{as_uri(lake) if lake else root()}/{zone}/{dataset}/date={date}"


def landing(lake: str | None = None) -> str:
    """URI of the landing zone. Unlike the zones after it, it mirrors the Blob Storage container that
    production lands files in: one ``YYYY-MM-DD/`` folder a day, no dataset or ``date=`` level."""
    return f"{as_uri(lake) if lake else root()}/landing"


def filesystem(uri: str):
    """The fsspec file system holding ``uri`` and the path of ``uri`` on it.

    ``file://`` and plain paths: the local file system (the URI's quoting decoded). ``abfss://`` /
    ``abfs://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH``: ADLS Gen2 through ``adlfs`` (the Blob API),
    authenticated by ``$AZURE_STORAGE_CONNECTION_STRING`` when set (Azurite in the tests), else by
    ``DefaultAzureCredential`` (managed identity in production); the path is ``CONTAINER/PATH``.
    """
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return LocalFileSystem(), str(local_path(uri).expanduser().absolute())
    if parsed.scheme in ("abfs", "abfss"):
        container, _, host = parsed.netloc.partition("@")
        return _adls(host.split(".")[0]), f"{container}{unquote(parsed.path)}".rstrip("/")
    return url_to_fs(uri)


def _adls(account: str):
    from adlfs import AzureBlobFileSystem

    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection_string:
        return AzureBlobFileSystem(connection_string=connection_string)
    from azure.identity import DefaultAzureCredential

    return AzureBlobFileSystem(account_name=account, credential=DefaultAzureCredential(), anon=False)


def spark_location(uri: str) -> str:
    """What to hand Spark for ``uri``: a plain path for a local URI (Hadoop would quote its ``%`` escapes
    again), the URI itself otherwise."""
    return str(local_path(uri)) if urlparse(uri).scheme in ("", "file") else uri


def local_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (a plain path is returned as it is).

    Raises
    ------
    ValueError
        For a remote URI (``abfss://``...), which only Spark or a storage client can write.
    """
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    raise ValueError(f"{uri} is not on this machine's file system")
