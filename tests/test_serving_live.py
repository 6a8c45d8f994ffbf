"""The real Seldon microservice over HTTP on loopback (its own environment, ``.venv-serving``).

The module registers a model in a fresh SQLite registry, exports it with ``coding-potential export-model``
(platform environment), starts ``python -m seldon.launch`` (serving environment: seldon-core 1.18.2,
numpy 1.26) on free loopback ports, POSTs real transcripts, and compares every answer with what
``coding-potential predict`` writes for the same input. The server is stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coding_potential import codes
from coding_potential.config import REPO_ROOT
from models.predictions import PREDICTION_COLUMNS
from seldon import local
from seldon.local import LocalServer as Server

SERVING_PYTHON = local.SERVING_PYTHON
PLATFORM_CLI = REPO_ROOT / ".venv" / "bin" / "coding-potential"
MAX_TRANSCRIPTS, MAX_BYTES = 500, 400_000


# ------------------------------------------------------------------------------------------- helpers
@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def register_and_export(model, root: Path) -> Path:
    """Register ``model`` (a loaded bundle) in a fresh SQLite registry under ``root``, make it the champion,
    and export it with the CLI; the export folder."""
    from models import registry

    bundle = Path(root) / "bundle"
    model.save(bundle)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with _environment(MLFLOW_TRACKING_URI=uri, CODING_POTENTIAL_VAR=str(root / "var"),
                      CODING_POTENTIAL_ARTIFACT_ROOT=(root / "artifacts").as_uri()):
        _, version = registry.log_candidate(bundle, {}, {}, {}, {})
        registry.promote(version, 0.9, lambda _champion: 0.0, 0.0)
    out = root / "export"
    done = subprocess.run([str(PLATFORM_CLI), "export-model", "--alias", "champion", "--out", str(out)],
                          env={**os.environ, "MLFLOW_TRACKING_URI": uri, "CODING_POTENTIAL_VAR": str(root / "var")},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"exported models:/coding-potential@champion (version {version}")
    return out


def cli_predictions(model_dir: Path, fasta: Path, tmp: Path) -> dict[str, dict[str, str]]:
    """``coding-potential predict`` of ``fasta`` with the exported bundle: TSV rows by ID, as text."""
    out = tmp / "cli.tsv"
    done = subprocess.run([str(PLATFORM_CLI), "predict", str(fasta), "-o", str(out), "--model",
                           str(model_dir / "bundle"), "-q"], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == list(PREDICTION_COLUMNS)
    return {row[0]: dict(zip(PREDICTION_COLUMNS, row, strict=True)) for row in (ln.split("\t") for ln in lines[1:])}


def assert_same_as_cli(served: dict[str, Any], cli: dict[str, str]) -> None:
    """A served prediction equals the CLI's row: probabilities within 1e-6, 4-decimal columns within 1e-4."""
    assert served["coding_probability"] == pytest.approx(float(cli["coding_probability"]), abs=1e-6)
    for name in ("gc_content", "fickett", "hexamer_score"):
        if cli[name] == "":
            assert served[name] is None, name
        else:
            assert served[name] == pytest.approx(float(cli[name]), abs=5e-5), name
    for name in ("length", "longest_orf_nt", "longest_open_orf_nt", "orf_start", "orf_frame"):
        assert ("" if served[name] is None else str(served[name])) == cli[name], name
    assert (served["id"], served["label"], served["warnings"]) == (cli["id"], cli["label"], cli["warnings"])


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Path:
    """A model trained on real transcripts (300 a file, the CLI's train into a fresh registry), exported
    with the CLI."""
    root = tmp_path_factory.mktemp("serving")
    var = root / "var"
    env = {**os.environ, "CODING_POTENTIAL_VAR": str(var), "CODING_POTENTIAL_SHARED": str(shared),
           "MLFLOW_TRACKING_URI": f"sqlite:///{var / 'mlflow.db'}"}
    for command in (["train", "--sample-per-file", "300", "--families", "logistic_regression"],
                    ["export-model", "--out", str(root / "export")]):
        done = subprocess.run([str(PLATFORM_CLI), *command], env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        assert done.returncode == 0, done.stderr
    return root / "export"


@pytest.fixture(scope="module")
def server(export_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = local.start(export_dir, tmp_path_factory.mktemp("log") / "server.log", settings={
        "CODING_POTENTIAL_SERVING_MAX_TRANSCRIPTS": str(MAX_TRANSCRIPTS),
        "CODING_POTENTIAL_SERVING_MAX_BYTES": str(MAX_BYTES)})
    yield running
    running.stop()
    assert running.process.poll() is not None  # stopped, workers and all
    assert not subprocess.run(["pgrep", "-g", str(running.process.pid)], capture_output=True).stdout


@pytest.fixture(scope="module")
def transcripts(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    """200 real mouse transcripts (100 coding, 100 noncoding) and two bad records, as one FASTA file."""
    from itertools import islice

    from coding_potential.fasta import Record, read_records

    records = []
    for name in ("validation_coding", "validation_noncoding"):
        valid = (r for r in read_records(shared / "data" / "mouse" / f"{name}.fa.gz") if isinstance(r, Record))
        records += [(r.id, r.sequence) for r in islice(valid, 100)]
    path = tmp_path_factory.mktemp("fasta") / "mixed.fa"
    bad = [("prot1", "MKVLAAGIVQQWPLEFRHDSEELLKAAE"), (records[0][0], records[0][1])]  # protein, duplicate ID
    path.write_text("".join(f">{i}\n{s}\n" for i, s in records + bad))
    return path, records


# ------------------------------------------------------------------------------------------- answers
def test_fasta_answers_equal_the_cli(server: Server, export_dir: Path, transcripts, tmp_path: Path) -> None:
    path, records = transcripts
    status, body = server.post({"strData": path.read_text()})
    assert status == 200, body
    data = body["jsonData"]
    cli = cli_predictions(export_dir, path, tmp_path)
    assert [p["id"] for p in data["predictions"]] == list(cli) == [i for i, _ in records]
    for served in data["predictions"]:
        assert_same_as_cli(served, cli[served["id"]])
    assert [(r["record_number"], r["id"], r["reason"]) for r in data["rejected"]] == [
        (201, "prot1", codes.INVALID_CHARACTER), (202, records[0][0], codes.DUPLICATE_ID)]
    assert data["summary"]["records"] == 202 and data["summary"]["valid"] == 200
    assert data["summary"]["coding"] == sum(row["label"] == "coding" for row in cli.values())
    assert body["meta"]["tags"] == {"model_name": "coding-potential", "model_version": "1"}
    assert "metrics" not in body["meta"]  # they go to /metrics


def test_json_and_ndarray_answers_equal_the_cli(server: Server, export_dir: Path, transcripts,
                                                tmp_path: Path) -> None:
    path, records = transcripts
    cli = cli_predictions(export_dir, path, tmp_path)
    status, body = server.post({"jsonData": {"sequences": [{"id": i, "sequence": s} for i, s in records[:50]]}})
    assert status == 200, body
    for served in body["jsonData"]["predictions"]:
        assert_same_as_cli(served, cli[served["id"]])
    status, body = server.post({"data": {"ndarray": [s for _, s in records[:20]]}})
    assert status == 200, body
    predictions = body["jsonData"]["predictions"]
    assert [p["id"] for p in predictions] == [f"seq_{n}" for n in range(1, 21)]
    for served, (identifier, _) in zip(predictions, records[:20], strict=True):
        assert_same_as_cli({**served, "id": identifier}, cli[identifier])


# ----------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("body", "raw", "reason"), [
    (None, b"not json at all", "wrong_shape"),
    (None, b"[" * 100_000 + b"]" * 100_000, "wrong_shape"),  # nested past Python's recursion limit
    (None, b'{"strData": ">a\\nACGT\\ud800\\n"}', codes.UNDECODABLE_INPUT),  # a lone surrogate
    ({"jsonData": {"sequences": [{"id": "gene 1", "sequence": "ACGT"}]}}, None, "wrong_shape"),
    ({"strData": ""}, None, codes.EMPTY_INPUT),
    ({"strData": "@r\nACGT\n+\nIIII\n"}, None, codes.FASTQ_INPUT),
    ({"strData": ">p1\nMKVLAAGIVQQWPLEF\n>p2\nMKRWSDHVBKMRMKRWSDHV\n"}, None, "no_valid_record"),
    ({"jsonData": {"sequences": "ACGT"}}, None, "wrong_shape"),
    ({"data": {"ndarray": [[1, 2], [3, 4]]}}, None, "wrong_shape"),
    ({"data": {"ndarray": ["ACGTACGTAC"] * (MAX_TRANSCRIPTS + 1)}}, None, "too_many_transcripts"),
    ({"strData": ">a\n" + "A" * MAX_BYTES}, None, "too_many_bytes"),  # refused by Content-Length, unread
])
def test_unusable_requests_get_400_with_a_json_reason(server: Server, body, raw, reason) -> None:
    status, answer = server.post(body, raw=raw)
    assert status == 400, answer
    assert answer["status"]["info"]
    assert answer["status"]["status"] == "FAILURE"
    assert answer["status"]["reason"] == reason
    assert answer["jsonData"]["error"]["reason"] == reason
    if reason == "no_valid_record":
        assert [(r["id"], r["reason"]) for r in answer["jsonData"]["rejected"]] == [
            ("p1", codes.INVALID_CHARACTER), ("p2", codes.NOT_NUCLEOTIDE)]


def test_a_chunked_body_over_the_limit_is_refused_unread(server: Server) -> None:
    """No Content-Length to check first: Flask stops reading at the limit and the answer is still 400."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        payload = json.dumps({"strData": ">a\n" + "A" * (MAX_BYTES + 10)}).encode()
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in
                          (payload[i:i + 65536] for i in range(0, len(payload), 65536)))
        sock.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunks + b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", head
    assert b"too_many_bytes" in body


def test_the_limits_handler_is_registered_and_http_errors_keep_their_status(server: Server) -> None:
    """Seldon registers the class's blueprint (its log says so); a wrong path or method is a 4xx in JSON,
    not Seldon's catch-all 500."""
    assert "Registering the custom error handler" in server.log.read_text()
    status, text = server.get("/api/v1.0/nowhere")
    assert status == 404 and json.loads(text)["status"]["reason"] == "not_found"
    status, text = server.get(local.PREDICT_PATH)  # GET where only POST is served (werkzeug: not found)
    assert status in (404, 405) and json.loads(text)["status"]["code"] == status


def _stall(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that send half a request and then nothing."""
    stalled = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /api/v1.0/predictions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 1000\r\n\r\n{\"strData\": \">a")
        stalled.append(sock)
    return stalled


def _answered_despite_stalled_clients(server: Server, count: int) -> float:
    """Seconds until a good request is answered while ``count`` clients stall."""
    stalled = _stall(server.port, count)
    try:
        started = time.monotonic()
        status, answer = server.post({"data": {"ndarray": ["ATGGCCAAGTTTGGCGCATAA" * 12]}}, timeout=20)
        assert status == 200 and len(answer["jsonData"]["predictions"]) == 1
        return time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()


def test_with_threads_stalled_clients_do_not_block_others(export_dir: Path, tmp_path: Path) -> None:
    """With threads (SERVE_THREADS, for a server with no buffering proxy in front) clients that stop halfway
    through a body hold a thread each, not a worker: 3 stalled clients would block both sync workers."""
    with local.running(export_dir, tmp_path / "server.log", settings={"SERVE_THREADS": "4"}) as server:
        assert _answered_despite_stalled_clients(server, 3) < 5


def test_a_worker_stuck_past_the_timeout_is_replaced(export_dir: Path, tmp_path: Path) -> None:
    """Sync workers (the default), both stalled: gunicorn replaces them after SERVE_TIMEOUT (Seldon's own
    default: 5000 s)."""
    with local.running(export_dir, tmp_path / "server.log", settings={"SERVE_TIMEOUT": "2"}) as server:
        assert 1.5 < _answered_despite_stalled_clients(server, 2) < 15
        assert server.log.read_text().count("WORKER TIMEOUT") >= 1


# -------------------------------------------------------------------------------- health and metrics
def test_health_metadata_and_metrics(server: Server, export_dir: Path) -> None:
    status, text = server.get("/health/status")
    assert status == 200 and json.loads(text)["jsonData"] == {"ready": True, "model": "coding-potential",
                                                              "version": "1"}
    status, text = server.get("/metadata")
    metadata = json.loads(text)
    info = json.loads((export_dir / "export.json").read_text())
    assert (metadata["name"], metadata["versions"]) == ("coding-potential", ["1"])
    assert metadata["custom"]["threshold"] == str(info["threshold"])
    before = _metric_sum(server, "coding_potential_transcripts_total", outcome="scored")
    for _ in range(3):
        assert server.post({"data": {"ndarray": ["ATGGCCAAGTTTGGCGCATAA" * 12] * 4}})[0] == 200
    assert server.post({"strData": ""})[0] == 400
    assert _metric_sum(server, "coding_potential_transcripts_total", outcome="scored") == before + 12
    for _ in range(5):  # health probes (Seldon asks the model for metrics there too) count nothing
        assert server.get("/health/status")[0] == 200
    assert _metric_sum(server, "coding_potential_transcripts_total", outcome="scored") == before + 12
    assert _metric_sum(server, "coding_potential_requests_total", outcome="refused", detail="empty_input") >= 1
    assert _metric_sum(server, "coding_potential_predict_seconds_count") >= 4
    assert _metric_sum(server, "coding_potential_model_info", served_version="1") >= 1


def _metric_sum(server: Server, name: str, **labels: str) -> float:
    """The sum over workers of one Prometheus sample family, filtered by labels."""
    status, text = server.get("/prometheus", metrics=True)
    assert status == 200
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text, value = line[len(name) + 1:].rsplit("} ", 1)
        found = dict(part.split("=", 1) for part in label_text.split('",') if "=" in part)
        found = {k.strip(): v.strip('"') for k, v in found.items()}
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(value)
    return total


def test_the_server_listens_on_loopback_only(server: Server) -> None:
    listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    ours = [line.split()[3] for line in listening.splitlines()
            if line.split()[3].rsplit(":", 1)[1] in (str(server.port), str(server.metrics_port))]
    assert sorted(ours) == sorted([f"127.0.0.1:{server.port}", f"127.0.0.1:{server.metrics_port}"])


# ------------------------------------------------------------------------------- one core, two numpys
FEATURES_SCRIPT = """
import sys, numpy as np
from coding_potential.fasta import Record, read_records
from coding_potential.features import compute_features, HexamerTable
records = [r for r in read_records(sys.argv[1]) if isinstance(r, Record)]
hexamer = HexamerTable.load(sys.argv[3])
features = compute_features([r.sequence for r in records], hexamer=hexamer, kmer_sizes=(1, 2, 3))
np.savez(sys.argv[2], version=np.array(np.__version__), **features)
"""


def test_the_core_computes_the_same_features_under_both_numpy_versions(transcripts, export_dir: Path,
                                                                     tmp_path: Path) -> None:
    """The serving environment (numpy 1.26) and the platform (numpy 2) featurise with the same code: every
    column must agree (a uint8 codon product once overflowed under numpy 1.x's casting rules)."""
    import numpy as np

    path, _ = transcripts
    arrays = {}
    for name, python in (("serving", SERVING_PYTHON), ("platform", REPO_ROOT / ".venv" / "bin" / "python")):
        out = tmp_path / f"{name}.npz"
        done = subprocess.run([str(python), "-c", FEATURES_SCRIPT, str(path), str(out),
                               str(export_dir / "bundle" / "hexamer.tsv")], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        arrays[name] = dict(np.load(out))
    serving, platform = arrays["serving"], arrays["platform"]
    assert str(serving.pop("version")).startswith("1.") and str(platform.pop("version")).startswith("2.")
    assert sorted(serving) == sorted(platform) and len(serving) > 20 and "hexamer_score" in platform
    for column in platform:
        assert serving[column].dtype == platform[column].dtype, column
        np.testing.assert_allclose(serving[column], platform[column], rtol=0, atol=1e-9, err_msg=column)


# ------------------------------------------------------------------ the production option: a registry over HTTP
REGISTER_SCRIPT = """
import sys
from pathlib import Path
from models import registry
_, version = registry.log_candidate(Path(sys.argv[1]), {}, {}, {}, {})
print(registry.promote(version, 0.9, lambda champion: 0.0, 0.0).promoted)
"""


def test_the_model_can_come_from_an_mlflow_server_over_http(export_dir: Path, transcripts, tmp_path: Path) -> None:
    """``CODING_POTENTIAL_SERVING_MODEL_URI`` + an MLflow server: the serving environment (mlflow-skinny)
    exports the champion at start-up, and answers as the export does."""
    port = local.free_port()
    platform_bin = REPO_ROOT / ".venv" / "bin"
    mlflow_log = (tmp_path / "mlflow.log").open("w")
    mlflow = subprocess.Popen([str(platform_bin / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
                               "--artifacts-destination", str(tmp_path / "artifacts")],
                              cwd=tmp_path, stdout=mlflow_log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                    break
            assert mlflow.poll() is None and time.monotonic() < deadline, (tmp_path / "mlflow.log").read_text()[-2000:]
            time.sleep(0.5)
        registered = subprocess.run(
            [str(platform_bin / "python"), "-c", REGISTER_SCRIPT, str(export_dir / "bundle")], cwd=tmp_path,
            env={**os.environ, "MLFLOW_TRACKING_URI": url, "CODING_POTENTIAL_VAR": str(tmp_path / "var"),
                 "CODING_POTENTIAL_ARTIFACT_ROOT": "mlflow-artifacts:/coding-potential"},
            capture_output=True, text=True, timeout=120, check=False)
        assert registered.returncode == 0 and registered.stdout.strip().endswith("True"), registered.stderr
        _, records = transcripts
        with local.running(tmp_path / "unused", tmp_path / "server.log", settings={
                "CODING_POTENTIAL_SERVING_MODEL_URI": "models:/coding-potential@champion",
                "MLFLOW_TRACKING_URI": url, "CODING_POTENTIAL_VAR": str(tmp_path / "serving-var")}) as server:
            metadata = json.loads(server.get("/metadata")[1])
            status, body = server.post({"data": {"ndarray": [s for _, s in records[:10]]}})
        assert metadata["versions"] == ["1"] and metadata["custom"]["run_id"] != json.loads(
            (export_dir / "export.json").read_text())["run_id"]  # the server's run, not the file export's
        assert status == 200
        from models.export import load_export

        expected = load_export(export_dir).model.predict_proba([s for _, s in records[:10]])
        assert [p["coding_probability"] for p in body["jsonData"]["predictions"]] == pytest.approx(expected, abs=1e-9)
    finally:
        os.killpg(mlflow.pid, signal.SIGTERM)
        mlflow.wait(timeout=20)
        mlflow_log.close()
