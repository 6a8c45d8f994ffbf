"""The endpoint's request handling (``seldon.service``, ``seldon.settings``) and the model export, in-process.

The live microservice over HTTP is ``tests/test_serving_live.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coding_potential import codes
from models.export import ExportError, load_export
from seldon import service
from seldon.settings import ServingSettings, SettingsError
from tests.conftest import small_model

LIMITS = service.Limits(max_transcripts=5, max_bytes=5_000)
ORF = "ATGGCCAAGTTTGGCGCATAA" * 12


@pytest.fixture(scope="module")
def export_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export: a small model registered in a fresh SQLite registry, promoted, exported by the CLI."""
    from tests.test_serving_live import register_and_export

    root = tmp_path_factory.mktemp("export")
    return register_and_export(small_model(root / "trained"), root)


@pytest.fixture(scope="module")
def exported(export_folder: Path):
    return load_export(export_folder)


# ------------------------------------------------------------------------------------------ parsing
def test_the_three_payloads_read_the_same_records() -> None:
    fasta = service.parse({"strData": f">a first\n{ORF[:120]}\n{ORF[120:]}\n>b\nACGU ACGU\n"}, LIMITS)
    json_data = service.parse({"jsonData": {"sequences": [{"id": "a", "description": " first ", "sequence": ORF},
                                                          {"id": "b", "sequence": "ACGU ACGU"}]}}, LIMITS)
    ndarray = service.parse({"data": {"ndarray": [[ORF], ["ACGU ACGU"]]}}, LIMITS)
    assert [(r.id, r.description, r.sequence) for r in json_data.records] == [
        (r.id, r.description, r.sequence) for r in fasta.records] == [("a", "first", ORF), ("b", "", "ACGTACGT")]
    assert [(r.id, r.sequence) for r in ndarray.records] == [("seq_1", ORF), ("seq_2", "ACGTACGT")]
    assert (fasta.kind, json_data.kind, ndarray.kind) == ("strData", "jsonData", "data")
    assert fasta.records[1].warnings == json_data.records[1].warnings  # whitespace removed, U read as T


def test_a_json_id_is_one_word_and_text_is_valid_unicode() -> None:
    """"gene 1" and "gene 2" would both read as "gene": refused, not merged; a lone surrogate is no text."""
    with pytest.raises(service.RequestError, match="holds whitespace") as refused:
        service.parse({"jsonData": {"sequences": [{"id": "gene 1", "sequence": ORF}]}}, LIMITS)
    assert refused.value.reason == service.WRONG_SHAPE
    with pytest.raises(service.RequestError, match="description must be a string"):
        service.parse({"jsonData": {"sequences": [{"id": "g", "description": 7, "sequence": ORF}]}}, LIMITS)
    for request in ({"strData": ">a\n" + ORF + "\ud800\n"},
                    {"jsonData": {"sequences": [{"id": "g\udc00", "sequence": ORF}]}},
                    {"data": {"ndarray": [ORF + "\ud800"]}}):
        with pytest.raises(service.RequestError, match="lone surrogate") as refused:
            service.parse(request, LIMITS)
        assert refused.value.reason == codes.UNDECODABLE_INPUT
    # An empty ID stays empty (rejected as in FASTA), its description is not promoted to an ID.
    parsed = service.parse({"jsonData": {"sequences": [{"id": "", "description": "no id", "sequence": ORF},
                                                       {"id": "ok", "sequence": ORF}]}}, LIMITS)
    assert [(r.number, r.reason) for r in parsed.rejected] == [(1, codes.EMPTY_ID)]


def test_rejected_records_are_kept_with_their_reason() -> None:
    parsed = service.parse({"strData": f">a\n{ORF}\n>a\n{ORF}\n>p\nMKVLAAGIVQQW*\n>\nACGT\n"}, LIMITS)
    assert [r.id for r in parsed.records] == ["a"]
    assert [(r.number, r.reason) for r in parsed.rejected] == [
        (2, codes.DUPLICATE_ID), (3, codes.INVALID_CHARACTER), (4, codes.EMPTY_ID)]


@pytest.mark.parametrize(("request_body", "reason", "message"), [
    ("FASTA", service.WRONG_SHAPE, "not a JSON object"),
    ({}, service.WRONG_SHAPE, "got none"),
    ({"strData": ">a\nACGT\n", "jsonData": {}}, service.WRONG_SHAPE, "got ['strData', 'jsonData']"),
    ({"strData": ""}, codes.EMPTY_INPUT, "empty"),
    ({"strData": "@r1\nACGT\n+\nIIII\n"}, codes.FASTQ_INPUT, "FASTQ"),
    ({"strData": "hello"}, codes.NO_FASTA_RECORD, "no FASTA record"),
    ({"strData": 42}, service.WRONG_SHAPE, "not int"),
    ({"jsonData": [ORF]}, service.WRONG_SHAPE, '{"sequences"'),
    ({"jsonData": {"sequences": [{"seq": ORF}]}}, service.WRONG_SHAPE, "sequences[0]"),
    ({"jsonData": {"sequences": [{"id": 7, "sequence": ORF}]}}, service.WRONG_SHAPE, "record 1: id and sequence"),
    ({"data": {"tensor": {"shape": [1], "values": [1]}}}, service.WRONG_SHAPE, "tensor data is not read"),
    ({"data": {"ndarray": [1.5, 2.5]}}, service.WRONG_SHAPE, "must be strings"),
    ({"data": {"ndarray": []}}, service.NO_VALID_RECORD, "no record"),
    ({"binData": "AAAA"}, service.WRONG_SHAPE, "binData is not read"),
    ({"strData": "".join(f">t{i}\n{ORF}\n" for i in range(6))}, service.TOO_MANY_TRANSCRIPTS, "more than 5"),
    ({"strData": ">a\n" + "A" * 5_000}, service.TOO_MANY_BYTES, "over 5,000"),
    ({"data": {"ndarray": ["A" * 3_000, "C" * 3_000]}}, service.TOO_MANY_BYTES, "over 5,000"),
])
def test_unusable_requests_are_refused_with_a_reason(request_body, reason: str, message: str) -> None:
    with pytest.raises(service.RequestError) as raised:
        service.parse(request_body, LIMITS)
    assert raised.value.reason == reason and message in raised.value.message
    body = raised.value.body()
    assert body["status"] == {"code": 400, "status": "FAILURE", "reason": reason, "info": raised.value.message}
    json.dumps(body)  # a JSON answer


def test_a_request_with_no_valid_record_lists_each_reason() -> None:
    with pytest.raises(service.RequestError) as raised:
        service.parse({"jsonData": {"sequences": [{"id": "p", "sequence": "MKRWSDHVBKMRMKRWSDHV"},
                                                  {"id": "", "sequence": ORF}, {"id": "e", "sequence": ""}]}},
                      LIMITS)
    assert raised.value.reason == service.NO_VALID_RECORD
    assert raised.value.message == "none of the 3 records is valid: nothing to score"
    rows = raised.value.body()["jsonData"]["rejected"]
    assert [(r["record_number"], r["id"], r["reason"]) for r in rows] == [
        (1, "p", codes.NOT_NUCLEOTIDE), (2, "", codes.EMPTY_ID), (3, "e", codes.EMPTY_SEQUENCE)]


# ------------------------------------------------------------------------------------------ answers
def test_the_answer_holds_every_record_and_the_cli_columns(exported) -> None:
    parsed = service.parse({"strData": f">a\n{ORF}\n>b\nTAATAATAA{'AC' * 120}\n>p\nMKV*\n"}, LIMITS)
    result = service.answer(exported, parsed)
    data = result.message["jsonData"]
    assert data["columns"] == list(service.PREDICTION_COLUMNS)
    assert [p["id"] for p in data["predictions"]] == ["a", "b"]
    assert [list(p) for p in data["predictions"]] == [data["columns"]] * 2
    expected = exported.model.predict_proba([ORF, "TAATAATAA" + "AC" * 120])
    assert [p["coding_probability"] for p in data["predictions"]] == pytest.approx(expected, abs=1e-12)
    assert data["rejected"] == [{"record_number": 3, "id": "p", "reason": codes.INVALID_CHARACTER,
                                 "message": parsed.rejected[0].message}]
    assert data["summary"] == {"records": 3, "valid": 2, "rejected": 1, "coding": result.coding,
                               "reasons": {codes.INVALID_CHARACTER: 1}}
    assert data["model"] == {"name": "coding-potential", "version": "1", "threshold": exported.model.threshold}
    json.dumps(result.message)


# ------------------------------------------------------------------------------------------ settings
def test_settings_come_from_the_environment_and_are_checked(tmp_path: Path) -> None:
    settings = ServingSettings.from_env({"CODING_POTENTIAL_SERVING_MODEL_DIR": str(tmp_path),
                                         "CODING_POTENTIAL_SERVING_MAX_TRANSCRIPTS": "2_000"})
    assert (settings.model_dir, settings.max_transcripts, settings.max_bytes, settings.model_uri) == (
        tmp_path, 2000, 20_000_000, None)
    assert ServingSettings.from_env({}, model_dir="/m").model_dir == Path("/m")  # a Seldon parameter wins
    with pytest.raises(SettingsError, match="CODING_POTENTIAL_SERVING_MAX_BYTES='0': expected a whole number"):
        ServingSettings.from_env({"CODING_POTENTIAL_SERVING_MAX_BYTES": "0"})
    with pytest.raises(SettingsError, match="MODEL_URI='champion': use models:/NAME@ALIAS"):
        ServingSettings.from_env({"CODING_POTENTIAL_SERVING_MODEL_URI": "champion"})


def test_the_launcher_reads_and_checks_its_settings() -> None:
    from seldon.launch import LaunchError, arguments, setting

    assert arguments({}) == ["seldon.model.CodingPotential", "--service-type", "MODEL", "--grpc-workers", "0",
                             "--http-port", "9000", "--metrics-port", "6000", "--workers", "2", "--threads", "1"]
    given = arguments({"SERVE_PORT": "9100", "SERVE_WORKERS": " 3 ", "SERVE_THREADS": "4"})
    assert given[given.index("--http-port") + 1] == "9100" and given[-4:] == ["--workers", "3", "--threads", "4"]
    assert setting("SERVE_TIMEOUT", {}) == 30 and setting("SERVE_TIMEOUT", {"SERVE_TIMEOUT": ""}) == 30
    for name, value in (("SERVE_WORKERS", "0"), ("SERVE_THREADS", "-1"), ("SERVE_PORT", "70000"),
                        ("SERVE_TIMEOUT", "1.5"), ("SERVE_WORKERS", "two")):
        with pytest.raises(LaunchError, match=f"{name}='{value}': give a whole number"):
            arguments({name: value}) if name != "SERVE_TIMEOUT" else setting(name, {name: value})
    with pytest.raises(LaunchError, match="the same port"):
        arguments({"SERVE_PORT": "7000", "SERVE_METRICS_PORT": "7000"})


# ------------------------------------------------------------------------------------------ export
def test_the_export_holds_what_serving_needs_and_detects_changes(export_folder: Path, exported,
                                                                  tmp_path: Path) -> None:
    import hashlib
    import shutil

    info = exported.info
    assert sorted(p.name for p in (export_folder / "bundle").iterdir()) == ["hexamer.tsv", "inference.npz",
                                                                           "model.json"]  # no estimator pickle
    for relative, digest in info["files"].items():
        assert hashlib.sha256((export_folder / relative).read_bytes()).hexdigest() == digest
    assert (info["model_name"], info["model_version"], info["alias"]) == ("coding-potential", "1", "champion")
    assert info["threshold"] == exported.model.threshold and len(info["run_id"]) == 32
    folder = tmp_path / "copy"
    shutil.copytree(export_folder, folder)
    with (folder / "bundle" / "hexamer.tsv").open("a") as handle:
        handle.write("\n")
    with pytest.raises(ExportError, match=r"bundle/hexamer.tsv differs from the exported file"):
        load_export(folder)
    (folder / "export.json").unlink()
    with pytest.raises(ExportError, match="not a model export"):
        load_export(folder)


def test_export_model_replaces_only_an_earlier_export(export_folder: Path, tmp_path: Path) -> None:
    """The export replaces its folder whole: an earlier export yes; a folder of other files, a file, empty
    text or a bad version number are refused, with nothing touched."""
    import os
    import subprocess

    from tests.test_serving_live import PLATFORM_CLI

    root = export_folder.parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
           "CODING_POTENTIAL_VAR": str(root / "var")}

    def export(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(PLATFORM_CLI), "export-model", *arguments], env=env, capture_output=True,
                              text=True, timeout=120, check=False, cwd=tmp_path)

    again = tmp_path / "again"
    assert export("--out", str(again)).returncode == 0
    (again / "stale.txt").write_text("from before")
    assert export("--version", "1", "--out", str(again)).returncode == 0
    assert sorted(p.name for p in again.iterdir()) == ["bundle", "export.json"]  # replaced whole
    assert (json.loads((again / "export.json").read_text())["files"]
            == json.loads((export_folder / "export.json").read_text())["files"])

    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("mine")
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    for arguments, message in ((["--out", str(work)], "is not an earlier export"), (["--out", ""], "empty"),
                               (["--out", str(a_file)], "not a folder"),
                               (["--version", "0", "--out", str(tmp_path / "v")], "not a version number"),
                               (["--version", "x", "--out", str(tmp_path / "v")], "not a version number")):
        done = export(*arguments)
        assert done.returncode != 0 and message in done.stderr, (arguments, done.stderr)
        assert "Traceback" not in done.stderr
    assert [p.name for p in work.iterdir()] == ["notes.txt"] and a_file.read_text() == "mine"
    assert not (tmp_path / "v").exists()
