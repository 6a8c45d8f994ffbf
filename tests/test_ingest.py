"""Ingestion from Azure Blob Storage (against Azurite, the real emulator) and from a local landing folder."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

import pipeline.ingest as ingest_module
from pipeline import lake
from pipeline.ingest import SourceError, ingest
from tests.azurite import azurite, connection_string, free_port  # noqa: F401  (azurite is a fixture)

DAY, NEXT_DAY = "2024-01-02", "2024-01-03"
PREFIX = "scoring"


@pytest.fixture(scope="module")
def fasta(shared: Path) -> list[bytes]:
    """Five small real FASTA texts, two records each, from the mouse validation set."""
    records: list[str] = []
    with gzip.open(shared / "data" / "mouse" / "validation_coding.fa.gz", "rt") as handle:
        for line in handle:
            if line.startswith(">"):
                if len(records) == 10:
                    break
                records.append("")
            records[-1] += line
    return ["".join(records[i:i + 2]).encode() for i in range(0, 10, 2)]


@pytest.fixture
def container(azurite: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[ContainerClient]:  # noqa: F811
    """A fresh container on Azurite, and ``wasb_default`` pointing at the emulator through the environment."""
    monkeypatch.setenv("AIRFLOW_CONN_WASB_DEFAULT",
                       json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite}}))
    client = BlobServiceClient.from_connection_string(azurite).create_container(f"landing-{uuid.uuid4().hex[:12]}")
    yield client
    client.delete_container()


@pytest.fixture
def landed(container: ContainerClient, fasta: list[bytes]) -> dict[str, bytes]:
    """The day's blobs (relative name -> bytes): FASTA, plain and gzipped, in sub-folders, and others."""
    day = {
        "a.fa": fasta[0],
        "b.fasta.gz": gzip.compress(fasta[1], mtime=0),
        "sub/c d.FNA": fasta[2],
        "x/same.fa": fasta[3],
        "y/same.fa": fasta[4],
        "notes.csv": b"not,fasta\n",
        ".hidden.fa": fasta[0],
    }
    for name, data in day.items():
        container.upload_blob(f"{PREFIX}/{DAY}/{name}", data)
    container.upload_blob(f"{PREFIX}/{NEXT_DAY}/other.fa", fasta[1])
    return day


#: Where each of the day's FASTA blobs must land in the raw partition.
RAW_NAMES = {"a.fa": "a.fa", "b.fasta.gz": "b.fasta.gz", "sub/c d.FNA": "c_d.FNA", "x/same.fa": "x__same.fa",
             "y/same.fa": "y__same.fa"}


def raw(tmp_path: Path, date: str = DAY) -> str:
    """The raw partition URI for ``date`` in a lake under a folder whose name needs URI-escaping."""
    return lake.partition("raw", "scoring", date, lake=str(tmp_path / "the lake"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_files(partition: str) -> dict[str, bytes]:
    folder = lake.local_path(partition)
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def mtimes(partition: str) -> dict[str, int]:
    return {path.name: path.stat().st_mtime_ns for path in lake.local_path(partition).iterdir()}


def expected_entry(container: ContainerClient, relative: str, name: str, partition: str) -> dict:
    """The ``_inputs.json`` entry of one blob, from the blob's own properties and bytes."""
    blob = f"{PREFIX}/{DAY}/{relative}"
    props = container.get_blob_client(blob).get_blob_properties()
    data = container.download_blob(blob).readall()
    return {"name": name, "path": str(lake.local_path(partition) / name), "label": None, "species": None,
            "origin": f"{container.url}/{quote(blob, safe='/~')}", "etag": props.etag.strip('"'), "size": len(data),
            "last_modified": props.last_modified.isoformat(), "md5": hashlib.md5(data).hexdigest()}


def test_first_run_takes_exactly_the_days_fasta(container, landed, tmp_path):
    partition = raw(tmp_path)
    result = ingest(DAY, partition, f"wasb://{container.container_name}/{PREFIX}")

    files = raw_files(partition)
    assert sorted(files) == sorted([*RAW_NAMES.values(), lake.INPUTS_FILE])
    for relative, name in RAW_NAMES.items():
        assert sha256(files[name]) == sha256(landed[relative])
    assert gzip.decompress(files["b.fasta.gz"]).startswith(b">")
    entries = [expected_entry(container, rel, name, partition) for rel, name in sorted(RAW_NAMES.items(),
                                                                                        key=lambda kv: kv[1])]
    assert result == {"date": DAY, "raw": partition, "inputs": entries, "ingested": 5, "unchanged": 0,
                      "removed": 0, "ignored": [".hidden.fa", "notes.csv"], "skip": False}
    assert json.loads(files[lake.INPUTS_FILE]) == {
        "date": DAY, "source": f"wasb://{container.container_name}/{PREFIX}", "inputs": entries}


def test_blobs_are_downloaded_in_ranged_chunks(container, landed, tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_module, "CHUNK_SIZE", 1000)  # every test blob takes several requests
    partition = raw(tmp_path)
    ingest(DAY, partition, f"wasb://{container.container_name}/{PREFIX}")
    files = raw_files(partition)
    assert all(len(landed[relative]) > 1000 for relative in RAW_NAMES)
    assert {name: sha256(files[name]) for name in RAW_NAMES.values()} == {
        name: sha256(landed[relative]) for relative, name in RAW_NAMES.items()}


def test_rerun_downloads_nothing_and_touches_nothing(container, landed, tmp_path):
    partition, source = raw(tmp_path), f"wasb://{container.container_name}/{PREFIX}"
    first = ingest(DAY, partition, source)
    before, record = mtimes(partition), raw_files(partition)[lake.INPUTS_FILE]
    time.sleep(0.01)

    second = ingest(DAY, partition, source)

    assert (second["ingested"], second["unchanged"], second["removed"]) == (0, 5, 0)
    assert second["inputs"] == first["inputs"]
    assert {k: v for k, v in mtimes(partition).items() if k != lake.INPUTS_FILE} == {
        k: v for k, v in before.items() if k != lake.INPUTS_FILE}
    assert raw_files(partition)[lake.INPUTS_FILE] == record


def test_changed_and_new_blobs_are_copied_the_rest_kept(container, landed, fasta, tmp_path):
    partition, source = raw(tmp_path), f"wasb://{container.container_name}/{PREFIX}"
    ingest(DAY, partition, source)
    before = mtimes(partition)
    changed, new = fasta[4] + fasta[3], fasta[2]
    container.upload_blob(f"{PREFIX}/{DAY}/a.fa", changed, overwrite=True)
    container.upload_blob(f"{PREFIX}/{DAY}/new.fasta", new)

    result = ingest(DAY, partition, source)

    assert (result["ingested"], result["unchanged"], result["removed"]) == (2, 4, 0)
    files, after = raw_files(partition), mtimes(partition)
    assert sha256(files["a.fa"]) == sha256(changed)
    assert sha256(files["new.fasta"]) == sha256(new)
    assert [after[name] for name in ("b.fasta.gz", "c_d.FNA", "x__same.fa", "y__same.fa")] == [
        before[name] for name in ("b.fasta.gz", "c_d.FNA", "x__same.fa", "y__same.fa")]
    record = {entry["name"]: entry for entry in json.loads(files[lake.INPUTS_FILE])["inputs"]}
    assert record["a.fa"] == expected_entry(container, "a.fa", "a.fa", partition)
    assert record["new.fasta"]["md5"] == hashlib.md5(new).hexdigest()
    assert len(record) == 6


def test_deleted_blob_is_removed_from_raw(container, landed, tmp_path):
    partition, source = raw(tmp_path), f"wasb://{container.container_name}/{PREFIX}"
    ingest(DAY, partition, source)
    container.delete_blob(f"{PREFIX}/{DAY}/b.fasta.gz")
    container.delete_blob(f"{PREFIX}/{DAY}/y/same.fa")

    result = ingest(DAY, partition, source)

    # y/same.fa gone: x/same.fa no longer clashes, so it takes its base name (and x__same.fa goes).
    assert (result["ingested"], result["unchanged"], result["removed"]) == (1, 2, 3)
    files = raw_files(partition)
    assert sorted(files) == ["_inputs.json", "a.fa", "c_d.FNA", "same.fa"]
    assert sha256(files["same.fa"]) == sha256(landed["x/same.fa"])
    assert [e["name"] for e in json.loads(files[lake.INPUTS_FILE])["inputs"]] == ["a.fa", "c_d.FNA", "same.fa"]


def test_a_date_with_no_fasta_is_a_clean_skip(container, landed, tmp_path, caplog):
    container.upload_blob(f"{PREFIX}/2024-01-04/readme.md", b"nothing to see")
    for date, ignored in (("2024-01-04", ["readme.md"]), ("2024-01-05", [])):
        partition = raw(tmp_path, date)
        with caplog.at_level(logging.INFO, logger="pipeline.ingest"):
            result = ingest(date, partition, f"wasb://{container.container_name}/{PREFIX}")
        assert result == {"date": date, "raw": partition, "inputs": [], "ingested": 0, "unchanged": 0,
                          "removed": 0, "ignored": ignored, "skip": True}
        assert not lake.local_path(partition).exists()
        assert f"nothing landed for {date}" in caplog.text
        assert f"wasb://{container.container_name}/{PREFIX}/{date}/" in caplog.text


def test_a_date_with_no_fasta_leaves_an_earlier_partition_alone(container, landed, tmp_path):
    partition, source = raw(tmp_path), f"wasb://{container.container_name}/{PREFIX}"
    ingest(DAY, partition, source)
    before = raw_files(partition)
    for blob in list(container.list_blobs(name_starts_with=f"{PREFIX}/{DAY}/")):
        container.delete_blob(blob.name)

    assert ingest(DAY, partition, source)["skip"] is True
    assert raw_files(partition) == before


def test_a_container_that_does_not_exist_is_named(container, tmp_path):
    with pytest.raises(SourceError, match=r"wasb://no-such-container/2024-01-02/: container does not exist"):
        ingest(DAY, raw(tmp_path), "wasb://no-such-container")
    assert not lake.local_path(raw(tmp_path)).exists()


def test_an_unreachable_account_fails_fast_and_is_named(tmp_path, monkeypatch):
    extra = {"connection_string": connection_string(free_port()),  # nothing listens there
             "initial_backoff": 0, "increment_base": 0, "random_jitter_range": 0}
    monkeypatch.setenv("AIRFLOW_CONN_WASB_DEFAULT", json.dumps({"conn_type": "wasb", "extra": extra}))
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"cannot list wasb://landing/scoring/2024-01-02/ .*wasb_default"):
        ingest(DAY, raw(tmp_path), "wasb://landing/scoring")
    assert time.monotonic() - started < 10


def test_an_undefined_connection_is_named(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_CONN", raising=False)
    with pytest.raises(SourceError, match="connection 'no_such_conn' is not defined"):
        ingest(DAY, raw(tmp_path), "wasb://landing", conn_id="no_such_conn")


def test_a_local_landing_folder_behaves_the_same(fasta, tmp_path):
    landing = tmp_path / "landing"
    files = {f"{DAY}/a.fa": fasta[0], f"{DAY}/b.fa.gz": gzip.compress(fasta[1]), f"{DAY}/notes.csv": b"x",
             f"{DAY}/.part.fa": b">", f"{NEXT_DAY}/c.fa": fasta[2]}
    for name, data in files.items():
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_bytes(data)
    partition = raw(tmp_path)

    first = ingest(DAY, partition, landing.as_uri())
    second = ingest(DAY, partition, str(landing))
    (landing / DAY / "a.fa").write_bytes(fasta[3])
    os.utime(landing / DAY / "a.fa", ns=(time.time_ns(), time.time_ns() + 10**9))
    (landing / DAY / "b.fa.gz").unlink()
    third = ingest(DAY, partition, str(landing))

    assert (first["ingested"], first["ignored"]) == (2, [".part.fa", "notes.csv"])
    stat = (landing / DAY / "a.fa").stat()
    assert (second["ingested"], second["unchanged"]) == (0, 2)
    assert (third["ingested"], third["unchanged"], third["removed"]) == (1, 0, 1)
    assert sorted(raw_files(partition)) == ["_inputs.json", "a.fa"]
    assert sha256(raw_files(partition)["a.fa"]) == sha256(fasta[3])
    assert third["inputs"] == [{
        "name": "a.fa", "path": str(lake.local_path(partition) / "a.fa"), "label": None, "species": None,
        "origin": str(landing / DAY / "a.fa"), "etag": str(stat.st_mtime_ns), "size": len(fasta[3]),
        "last_modified": third["inputs"][0]["last_modified"], "md5": None}]
    with pytest.raises(SourceError, match=r"landing folder .*missing does not exist"):
        ingest(DAY, partition, str(tmp_path / "missing"))
