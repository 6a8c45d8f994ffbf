"""``coding-potential``: the command line. Each subcommand imports what it needs when it runs, so
``coding-potential predict`` never imports Airflow or Spark and starts fast.

Exit codes: 0 success; 1 a gate or check failed (e.g. no champion model); 2 usage error;
3 the input file as a whole is unusable (not FASTA, empty, unreadable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date as Date
from pathlib import Path

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_BAD_INPUT = 0, 1, 2, 3


def _console():
    from rich.console import Console

    # Piped or redirected output is not wrapped at 80 columns: paths and numbers stay copyable.
    return Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def _fail(message: str, code: int) -> int:
    print(f"coding-potential: error: {message}", file=sys.stderr)
    return code


def _input_exists(path: str) -> str | None:
    """Why ``path`` cannot be read, or ``None``: a file, ``-`` (stdin), or a pipe such as ``<(zcat x.gz)``."""
    if path == "-":
        return None
    if not Path(path).exists():
        return f"input {path!r} does not exist"
    if Path(path).is_dir():
        return f"input {path!r} is a folder, not a file"
    return None


def _same_file(a: str | None, b: str | None) -> bool:
    if not a or not b or "-" in (a, b):
        return False
    return Path(a).resolve() == Path(b).resolve()


def _is_special(path: str) -> bool:
    """A device, a pipe or a socket (``/dev/null``, ``<(...)``): written in place, nothing beside it."""
    target = Path(path)
    return target.exists() and not target.is_file() and not target.is_dir()


def _output_problem(output: str | None, inputs: list[str], what: str) -> str | None:
    """Why ``output`` cannot be written, or ``None``: checked before any work, so nothing is half done.

    Never over an input, never onto a folder, and only into a folder that exists and is writable (a
    typo in a path must not create a tree of folders).
    """
    if output is None:
        return None
    if output == "-" and what != "output":
        return f"{what} cannot be '-'; give a file path"
    if output in ("", "-"):
        return None if output == "-" else f"{what} is an empty path"
    for source in inputs:
        if _same_file(output, source):
            return f"{what} {output!r} is the input file; choose another path"
    target = Path(output)
    if target.is_dir():
        return f"{what} {output!r} is a folder; give a file path"
    if _is_special(output):
        return None
    return _parent_problem(output, what)


def _parent_problem(path: str, what: str) -> str | None:
    """Why nothing can be created at ``path``: its folder is missing or not writable (links followed)."""
    folder = Path(os.path.realpath(path)).parent
    if not folder.is_dir():
        return f"{what} {path!r}: the folder {str(folder)!r} does not exist"
    if not os.access(folder, os.W_OK):
        return f"{what} {path!r}: the folder {str(folder)!r} is not writable"
    return None


def _folder_problem(folder: str | None, what: str) -> str | None:
    """Why the output folder ``folder`` cannot be used (it may be new; its parent must exist), or ``None``."""
    if folder is None:
        return None
    target = Path(folder)
    if not target.exists():
        return _parent_problem(folder, what)
    if not target.is_dir():
        return f"{what} {folder!r} exists and is not a folder"
    return None if os.access(target, os.W_OK) else f"{what} {folder!r} is not writable"


def _write_failed(error: OSError, fallback: str) -> int:
    return _fail(f"cannot write {error.filename or fallback!r}: {error.strerror}", EXIT_USAGE)


def _load_model(uri: str | None):
    """The model, or an exit code after a one-line error (1: no champion yet; 2: a bad ``--model``)."""
    from models import registry

    if uri is not None and not uri.strip():
        return _fail("--model is empty; give a bundle folder or a models:/ URI", EXIT_USAGE)
    try:
        return registry.load_model(uri)
    except registry.NoChampionError as error:
        return _fail(str(error), EXIT_CHECK_FAILED)
    except (registry.ModelNotFoundError, FileNotFoundError, ValueError) as error:
        return _fail(f"cannot load model {uri!r}: {error}", EXIT_USAGE)


# --------------------------------------------------------------------------------------- fetch-data
def cmd_fetch_data(options: argparse.Namespace) -> int:
    from rich.progress import Progress

    from coding_potential import datasets

    try:
        chosen = datasets.select(options.datasets or ["*"])
        with Progress(console=_console()) as progress:
            task = progress.add_task("fetching and verifying datasets", total=len(chosen))
            paths = datasets.fetch(chosen, link=options.link,
                                   on_done=lambda d, _p: progress.update(task, advance=1, description=d.name))
    except datasets.DatasetError as error:
        return _fail(str(error), EXIT_CHECK_FAILED)
    for dataset, path in zip(chosen, paths, strict=True):
        print(f"{dataset.name}\t{dataset.n_records}\t{path}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------- validate
def cmd_validate(options: argparse.Namespace) -> int:
    from coding_potential.fasta import FastaFormatError, Rejection, read_records, summarise

    if options.gate or options.coding or options.noncoding or options.manifest or options.report:
        return _gate(options)
    if not options.input:
        return _fail("validate needs INPUT (or --gate training with --coding/--noncoding or --manifest)", EXIT_USAGE)
    if problem := _input_exists(options.input):
        return _report_validation_error(options, problem)
    if problem := _output_problem(options.rejected, [options.input], "rejected-records file"):
        return _fail(problem, EXIT_USAGE)
    rejections: list[Rejection] = []

    def noting_rejections(outputs):
        for output in outputs:
            if isinstance(output, Rejection):
                rejections.append(output)
            yield output

    try:
        summary = summarise(noting_rejections(read_records(_source(options.input))))
    except FastaFormatError as error:
        return _report_validation_error(options, str(error))
    if options.rejected:
        from pipeline.files import write_rejected

        try:
            write_rejected(rejections, options.rejected)
        except OSError as error:
            return _write_failed(error, options.rejected)
    if options.json:
        print(json.dumps(summary.as_dict()))
    else:
        _print_validation(options.input, summary, rejections, options.rejected)
    return EXIT_OK


_THRESHOLD_OPTIONS = ("max_rejected_share", "max_ambiguous_fraction", "min_length", "min_coding_share",
                      "max_coding_share")


def _gate(options: argparse.Namespace) -> int:
    """``validate --gate``: gate the inputs, write the report, exit 0 / 1 (hard failure) / 3 (unusable file)."""
    if not options.gate:
        return _fail("--coding, --noncoding, --manifest and --report go with --gate", EXIT_USAGE)
    if problem := _gate_usage_problem(options):
        return _fail(problem, EXIT_USAGE)
    from datetime import UTC, datetime

    from coding_potential import config
    from coding_potential.fasta import FastaFormatError
    from validation.run import LabelledInput, gate_inputs, labelled_inputs, read_manifest
    from validation.settings import thresholds

    try:
        limits = thresholds({name: getattr(options, name) for name in _THRESHOLD_OPTIONS})
        if options.gate == "prediction":
            inputs = [LabelledInput(_stdin_path(options.input), "stdin" if options.input == "-" else options.input)]
        elif options.manifest:
            inputs = read_manifest(options.manifest)
        else:
            inputs = labelled_inputs(options.coding, options.noncoding)
    except (OSError, ValueError) as error:
        return _fail(str(error), EXIT_USAGE)
    for item in inputs:
        if problem := _input_exists(item.path):
            return _fail(problem, EXIT_BAD_INPUT)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")  # two runs in one second stay apart
    report_dir = options.report or str(config.var_dir() / "reports" / "validate" / f"{options.gate}-{stamp}")
    try:
        run = gate_inputs(inputs, options.gate, limits, report_dir, run_name=f"validate {options.gate} {stamp}")
    except FastaFormatError as error:
        return _fail(str(error), EXIT_BAD_INPUT)
    except OSError as error:
        return _write_failed(error, report_dir)
    if options.json:
        print(json.dumps({**run.result.as_dict(), "files": run.files, "report": run.report}))
    else:
        _print_gate(run)
    return EXIT_OK if run.result.passed else EXIT_CHECK_FAILED


def _gate_usage_problem(options: argparse.Namespace) -> str | None:
    labelled = options.coding or options.noncoding or options.manifest
    if options.report is not None and (problem := _folder_problem(options.report, "report folder")
                                       or ("report folder is an empty path" if not options.report else None)):
        return problem
    if "-" in options.coding + options.noncoding:
        return "stdin ('-') is for --gate prediction; give the training files by path"
    if options.rejected:
        return "--rejected is not used with --gate: the report lists the rejected records (rejected.tsv)"
    if options.gate == "prediction":
        if labelled:
            return "--coding, --noncoding and --manifest belong to --gate training"
        return None if options.input else "--gate prediction needs INPUT"
    if options.input:
        return "--gate training reads --coding/--noncoding files or --manifest, not INPUT"
    if options.manifest and (options.coding or options.noncoding):
        return "give --manifest or --coding/--noncoding, not both"
    if not labelled:
        return "--gate training needs --coding and --noncoding files, or --manifest"
    return None


def _stdin_path(path: str) -> str:
    return "/dev/stdin" if path == "-" else path


def _print_gate(run) -> None:
    console = _console()
    for item in run.files:
        console.print(f"{item['name']}: {item['records']:,} records, {item['valid']:,} valid, "
                      f"{item['rejected']:,} rejected", highlight=False, markup=False)
    console.print(run.result.message(), highlight=False, markup=False, soft_wrap=True)  # one line per rule
    console.print(f"report: {run.report['summary_md']}", highlight=False, markup=False)
    if run.report.get("data_docs"):
        console.print(f"Data Docs: {run.report['data_docs']}", highlight=False, markup=False)


#: Rejected records listed by `validate` without --json (all of them go to --rejected FILE).
SHOWN_REJECTIONS = 20


def _print_validation(source: str, summary, rejections: list, rejected_file: str | None) -> None:
    console = _console()
    console.print(f"{source}: {summary.records:,} records, {summary.valid:,} valid, "
                  f"{summary.rejected:,} rejected", highlight=False)
    for kind, counts in (("rejected", summary.reasons), ("warning", summary.warnings)):
        for code, count in sorted(counts.items()):
            if count:
                console.print(f"  {kind} {code}: {count:,}", highlight=False)
    for rejection in rejections[:SHOWN_REJECTIONS]:
        console.print(f"  {rejection.message}", highlight=False, markup=False)
    if len(rejections) > SHOWN_REJECTIONS:
        more = len(rejections) - SHOWN_REJECTIONS
        console.print(f"  ... and {more:,} more" + ("" if rejected_file else " (all of them: --rejected FILE)"),
                      highlight=False)
    if rejected_file:
        console.print(f"rejected records: {rejected_file}", highlight=False)


def _report_validation_error(options: argparse.Namespace, message: str) -> int:
    if options.json:
        from coding_potential.fasta import ValidationSummary

        print(json.dumps({**ValidationSummary().as_dict(), "error": message}))  # same keys as a success
    return _fail(message, EXIT_BAD_INPUT)


def _source(path: str):
    return sys.stdin.buffer if path == "-" else path


# ----------------------------------------------------------------------------------------- features
def cmd_features(options: argparse.Namespace) -> int:
    from coding_potential.fasta import FastaFormatError
    from pipeline.tables import featurise_file, write_parquet, write_rejected

    if problem := _input_exists(options.input):
        return _fail(problem, EXIT_BAD_INPUT)
    if problem := _folder_problem(options.output, "output folder"):
        return _fail(problem, EXIT_USAGE)
    if options.engine == "spark":
        return _features_on_spark(options)
    try:
        table, rejections = featurise_file(_source(options.input))
    except FastaFormatError as error:
        return _fail(f"{options.input}: {error}", EXIT_BAD_INPUT)
    folder = Path(options.output) / f"date={options.date}" if options.date else Path(options.output)
    try:
        path = write_parquet(table, folder / "part-00000.parquet")
        write_rejected(rejections, folder / "rejected.tsv")
    except OSError as error:
        return _write_failed(error, str(folder))
    _console().print(f"{table.num_rows:,} feature rows -> {path}; {len(rejections):,} rejected -> "
                     f"{folder / 'rejected.tsv'}")
    return EXIT_OK


def _features_on_spark(options: argparse.Namespace) -> int:
    """The Spark job the DAGs and Databricks run, on local Spark; same feature schema as in-process."""
    if options.input == "-" or not options.date:
        return _fail("--engine spark needs an input file and --date", EXIT_USAGE)
    from spark_jobs import features_job

    summary = features_job.run([options.input], options.output, options.date)
    _console().print(f"{summary['valid']:,} feature rows, {summary['quarantined']:,} quarantined -> "
                     f"{summary['partition']}; run summary: {Path(summary['partition']) / '_summary.json'}",
                     highlight=False)
    [entry] = summary["files"]
    if entry["file_error"]:
        return _fail(f"{options.input}: unusable input ({entry['file_error']})", EXIT_BAD_INPUT)
    return EXIT_OK


# ------------------------------------------------------------------------------------------ predict
def cmd_predict(options: argparse.Namespace) -> int:
    from coding_potential.fasta import FastaFormatError
    from pipeline.scoring import rejected_path_for, score_file

    if problem := _input_exists(options.input):
        return _fail(problem, EXIT_BAD_INPUT)
    if problem := _output_problem(options.output, [options.input], "output"):
        return _fail(problem, EXIT_USAGE)
    to_stdout = options.output in (None, "-")
    # Beside a regular output file by default; with stdout, a device or a pipe, listed on stderr.
    beside = not to_stdout and not _is_special(options.output)
    rejected = options.rejected or (str(rejected_path_for(Path(options.output))) if beside else None)
    problem = _output_problem(rejected, [options.input], "rejected-records file")
    if not problem and _same_file(rejected, options.output):
        problem = f"the rejected-records file and the output are the same file {rejected!r}"
    if problem:
        return _fail(problem, EXIT_USAGE)
    model = _load_model(options.model)
    if isinstance(model, int):
        return model
    try:
        summary, rejections = _with_progress("scoring", lambda tick: score_file(
            _source(options.input), sys.stdout if to_stdout else options.output, model,
            rejected_output=rejected, on_batch=tick), quiet=options.quiet)
    except FastaFormatError as error:
        return _fail(f"{options.input}: {error}", EXIT_BAD_INPUT)
    except OSError as error:  # checked above; a full disk or a race can still fail
        return _write_failed(error, options.output)
    if not rejected:
        for rejection in rejections:
            print(f"rejected: {rejection.message}", file=sys.stderr)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.reasons.items())) or "none"
    print(f"{summary.records:,} records: {summary.valid:,} scored ({summary.coding:,} coding), "
          f"{summary.rejected:,} rejected ({reasons})", file=sys.stderr)
    return EXIT_OK


def _with_progress(label: str, work: Callable[[Callable[[int], None]], object], quiet: bool = False):
    if quiet or not sys.stderr.isatty():
        return work(lambda _n: None)
    from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), "{task.description}", MofNCompleteColumn(), TimeElapsedColumn(),
                  console=_console()) as progress:
        task = progress.add_task(label, total=None)
        return work(lambda n: progress.update(task, advance=n))


# -------------------------------------------------------------------------------------------- train
def cmd_train(options: argparse.Namespace) -> int:
    import time

    from coding_potential import config
    from pipeline import settings, steps

    run_dir = str(config.var_dir() / "runs" / "cli" / time.strftime("%Y%m%dT%H%M%S"))
    day = options.date or time.strftime("%Y-%m-%d", time.gmtime())
    datasets = options.datasets or list(settings.TRAINING_DATASETS)
    margin = settings.PROMOTION_MARGIN if options.margin is None else options.margin
    params = {"seed": options.seed, "promotion_margin": margin,
              "model_families": options.families or list(settings.MODEL_FAMILIES)}
    if options.tuned:
        tuned = _tuned_settings(options.tuned)
        if isinstance(tuned, int):
            return tuned
        params["tuned"] = tuned
    console = _console()
    with console.status("training") as status:
        _prepare_training_data(status, day, datasets, options)
        status.update("training (split, hexamer table, model families)")
        trained = steps.train_candidate(run_dir, day, params=params)
        status.update("evaluating")
        evaluated = steps.evaluate_candidate(run_dir, trained, params)
        status.update("registering")
        registered = steps.register_candidate(run_dir, trained, evaluated, params)
    for name, metrics in evaluated["metrics"].items():
        console.print(f"{name}: " + ", ".join(f"{k} {metrics[k]:.4f}" for k in
                                              ("auroc", "sensitivity", "specificity", "mcc")))
    console.print(f"registered version {registered['version']}: "
                  f"{'champion' if registered['promoted'] else 'not promoted'} ({registered['reason']})")
    console.print(f"report: {evaluated['report']}")
    print(json.dumps({"run_dir": run_dir, **registered}))
    return EXIT_OK


def _prepare_training_data(status, day: str, datasets: list[str], options: argparse.Namespace) -> None:
    """Fetch, gate and featurise the labelled data into the day's lake partitions (train and tune)."""
    from pipeline import steps

    status.update("fetching and validating the labelled data")
    steps.resolve_training_inputs(day, datasets, options.sample_per_file, options.seed)
    validated = steps.validate_inputs(day, "training")
    status.update(f"computing features of {validated['valid']:,} records ({options.engine})")
    steps.build_features(day, "training", engine=options.engine)


def _tuned_settings(path: str) -> dict | int:
    """``best_params`` of a ``coding-potential tune`` result file, or an exit code after saying why not."""
    if problem := _input_exists(path):
        return _fail(problem, EXIT_BAD_INPUT)
    try:
        tuned = json.loads(Path(path).read_text(encoding="utf-8"))["best_params"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        return _fail(f"{path} is not a tuning result (a JSON with best_params): {error}", EXIT_BAD_INPUT)
    if not isinstance(tuned, dict):
        return _fail(f"{path}: best_params is not a mapping", EXIT_BAD_INPUT)
    return tuned


# ------------------------------------------------------------------------------------------- tune
def cmd_tune(options: argparse.Namespace) -> int:
    import time

    from coding_potential import config
    from pipeline import settings, steps

    run_dir = str(config.var_dir() / "runs" / "cli" / time.strftime("%Y%m%dT%H%M%S"))
    day = options.date or time.strftime("%Y-%m-%d", time.gmtime())
    params = {"seed": options.seed, "n_trials": options.trials, "timeout_s": options.timeout}
    console = _console()
    with console.status("tuning") as status:
        _prepare_training_data(status, day, options.datasets or list(settings.TRAINING_DATASETS), options)
        status.update(f"tuning {options.family}: {options.trials} trials at most"
                      + (f", {options.timeout:.0f} s at most" if options.timeout else ""))
        tuned = steps.tune_candidate(run_dir, day, options.family, params=params)
    console.print(f"{tuned['family']}: best AUROC {tuned['best_auroc']:.4f} on the tuning part after "
                  f"{tuned['n_trials']} trials ({tuned['n_pruned']} pruned): {json.dumps(tuned['best_params'])}")
    console.print(f"report: {tuned['html']}; train with them: coding-potential train --families {tuned['family']} "
                  f"--tuned {tuned['json']}")
    print(json.dumps({"run_dir": run_dir, **tuned}))
    return EXIT_OK


# ----------------------------------------------------------------------------------------- evaluate
def cmd_evaluate(options: argparse.Namespace) -> int:
    import numpy as np

    from coding_potential.fasta import FastaFormatError, read_records
    from models.evaluate import classification_metrics, save_plots, write_report
    from pipeline.tables import split_outputs

    for path in (options.coding, options.noncoding):
        if path == "-":
            return _fail("--coding and --noncoding need file paths (two inputs cannot share stdin)", EXIT_USAGE)
        if problem := _input_exists(path):
            return _fail(problem, EXIT_BAD_INPUT)
    if _same_file(options.coding, options.noncoding):
        return _fail(f"--coding and --noncoding are the same file {options.coding!r}", EXIT_USAGE)
    if problem := _folder_problem(options.output, "output folder"):
        return _fail(problem, EXIT_USAGE)
    model = _load_model(options.model)
    if isinstance(model, int):
        return model
    labels, probabilities, sequences, inputs = [], [], {}, {}
    for path, label in ((options.coding, 1), (options.noncoding, 0)):
        try:
            records, rejections = split_outputs(read_records(path))
        except FastaFormatError as error:
            return _fail(f"{path}: {error}", EXIT_BAD_INPUT)
        for rejection in rejections:  # never dropped silently: said here and counted in the output
            print(f"{path}: rejected: {rejection.message}", file=sys.stderr)
        inputs["coding" if label else "noncoding"] = {
            "path": path, "records": len(records) + len(rejections), "scored": len(records),
            "rejected": len(rejections)}
        sequences[label] = {r.sequence for r in records}
        probabilities.append(model.predict_proba([r.sequence for r in records]))
        labels.append(np.full(len(records), label))
    if both := len(sequences[1] & sequences[0]):
        print(f"warning: {both:,} sequence(s) occur in both --coding and --noncoding", file=sys.stderr)
    for name, counts in inputs.items():
        if not counts["scored"]:
            return _fail(f"{counts['path']}: no valid record to evaluate as {name}", EXIT_BAD_INPUT)
    y, p = np.concatenate(labels), np.concatenate(probabilities)
    threshold = model.threshold if options.threshold is None else options.threshold
    metrics = classification_metrics(y, p, threshold)
    if options.output:
        try:
            plots = save_plots(y, p, threshold, options.output, "evaluation")
            write_report({"evaluation": {"metrics": {**metrics, "inputs": inputs}, "plots": plots}},
                         options.output, "coding-potential evaluation")
        except OSError as error:
            return _write_failed(error, options.output)
    print(json.dumps({**metrics, "inputs": inputs}, indent=2))
    return EXIT_OK


# ------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from pipeline.settings import KNOWN_MODEL_FAMILIES

    parser = argparse.ArgumentParser(prog="coding-potential", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("fetch-data", help="copy the labelled datasets into var/data, verified")
    p.add_argument("--datasets", nargs="*", help="names or globs from the manifest (default: all)")
    p.add_argument("--link", action="store_true", help="symlink instead of copying")
    p.set_defaults(handler=cmd_fetch_data)

    p = sub.add_parser("validate", help="check a FASTA file record by record, or gate inputs (--gate)",
                       description="Without --gate: the reader's record-by-record check of INPUT. With --gate: "
                       "the data-quality gate (Great Expectations) over INPUT (prediction) or a labelled training "
                       "set; exit 0 when it passes, 1 when a hard expectation fails, 3 when a file is unusable.")
    p.add_argument("input", nargs="?", help="FASTA file (plain or gzip), or - for stdin")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--rejected", help="also write the rejected records to this TSV (record_number, id, reason, ...)")
    p.add_argument("--gate", choices=("training", "prediction"), help="run the quality gate of this kind")
    p.add_argument("--coding", action="append", default=[], help="training gate: a coding FASTA (repeatable)")
    p.add_argument("--noncoding", action="append", default=[], help="training gate: a noncoding FASTA (repeatable)")
    p.add_argument("--manifest", help="training gate: a TSV with columns path, label (1/coding, 0/noncoding), "
                   "optional species; paths relative to the manifest")
    p.add_argument("--report", help="folder for the report: summary.json/.md, plots, Data Docs "
                   "(default: var/reports/validate/GATE-TIMESTAMP)")
    for name, kind, text in (
            ("max-rejected-share", _probability, "hard: most records the reader may reject (default 0.01)"),
            ("max-ambiguous-fraction", _probability, "soft: most ambiguous bases per record (default 0.05)"),
            ("min-length", _non_negative, "soft: shortest record in nt (default 200)"),
            ("min-coding-share", _probability, "soft, training: lowest coding share (default 0.1)"),
            ("max-coding-share", _probability, "soft, training: highest coding share (default 0.9)")):
        p.add_argument(f"--{name}", type=kind, help=text)
    p.set_defaults(handler=cmd_validate)

    p = sub.add_parser("features", help="write model-independent features as Parquet")
    p.add_argument("input", help="FASTA file (plain or gzip), or - for stdin")
    p.add_argument("--output", required=True, help="dataset folder")
    p.add_argument("--date", type=_iso_date, help="write partition date=YYYY-MM-DD")
    p.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="local: in-process (default); spark: the Spark job on local Spark (needs --date)")
    p.set_defaults(handler=cmd_features)

    p = sub.add_parser("train", help="train, evaluate and register a candidate (the training DAG in-process)")
    p.add_argument("--datasets", nargs="+", help="manifest names or globs (default: human and mouse train_*)")
    p.add_argument("--sample-per-file", type=int, help="train on a seeded sample of N records per file")
    p.add_argument("--families", nargs="+", choices=KNOWN_MODEL_FAMILIES, metavar="FAMILY",
                   help=f"model families, of {', '.join(KNOWN_MODEL_FAMILIES)} (default: the three feature families; "
                        "sequence_cnn and ensemble train the sequence model, on CPU or a GPU)")
    p.add_argument("--margin", type=float, help="AUROC margin to replace the champion (default: 0.002)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--date", type=_iso_date, help="the lake partition date of the training data (default: today, UTC)")
    p.add_argument("--engine", choices=("inprocess", "spark"), default="inprocess",
                   help="where features are computed (default: in this process; spark: local Spark)")
    p.add_argument("--tuned", metavar="FILE", help="settings chosen by `coding-potential tune` (its JSON result)")
    p.set_defaults(handler=cmd_train)

    p = sub.add_parser("tune", help="search a model family's settings with Optuna (models/search_space.yaml); "
                                    "each trial is an MLflow run")
    p.add_argument("--family", required=True, choices=[f for f in KNOWN_MODEL_FAMILIES if f != "ensemble"])
    p.add_argument("--trials", type=_counting("a number of trials"), default=20, help="most trials (default 20)")
    p.add_argument("--timeout", type=float, help="most seconds for the study (default: no limit)")
    p.add_argument("--datasets", nargs="+", help="manifest names or globs (default: human and mouse train_*)")
    p.add_argument("--sample-per-file", type=int, help="tune on a seeded sample of N records per file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--date", type=_iso_date, help="the lake partition date of the training data (default: today)")
    p.add_argument("--engine", choices=("inprocess", "spark"), default="inprocess",
                   help="where features are computed (default: in this process; spark: local Spark)")
    p.set_defaults(handler=cmd_tune)

    p = sub.add_parser("evaluate", help="metrics of a model on labelled FASTA")
    p.add_argument("--coding", required=True)
    p.add_argument("--noncoding", required=True)
    p.add_argument("--model", help="bundle folder or models:/ URI (default: the champion)")
    p.add_argument("--threshold", type=_probability, help="decision threshold in [0, 1] (default: the model's)")
    p.add_argument("--output", help="folder for plots and the HTML report")
    p.set_defaults(handler=cmd_evaluate)

    p = sub.add_parser("predict", help="coding probability per transcript")
    p.add_argument("input", help="FASTA file (plain or gzip), or - for stdin")
    p.add_argument("-o", "--output", help="TSV to write, gzip-compressed when it ends in .gz (default: stdout)")
    p.add_argument("--rejected", help="TSV of rejected records (default: OUTPUT less .tsv[.gz], plus "
                   ".rejected.tsv; with stdout output, listed on stderr)")
    p.add_argument("--model", help="bundle folder or models:/ URI (default: the champion)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("export-model", help="export a registered model for the serving environment (seldon/)",
                       description="Write a registered model version (default: the champion) as a folder the "
                       "Seldon endpoint loads: bundle/ (model.json, hexamer.tsv, inference.npz) and export.json "
                       "(name, version, run, threshold, SHA-256 of each file).")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--alias", help="registry alias (default: champion)")
    which.add_argument("--version", type=_counting("a version number"), help="registry version number")
    p.add_argument("--name", default=None, help="registered model name (default: coding-potential)")
    p.add_argument("--out", required=True, help="export folder (replaced whole)")
    p.set_defaults(handler=cmd_export_model)

    p = sub.add_parser("adf-export", help="generate the Azure Data Factory resources and ARM template from the DAGs")
    p.add_argument("--out", required=True, help="folder for pipeline/, dataset/, linkedService/, trigger/, "
                   "factory/ and the ARM template (replaced; committed copy: adf_export/factory/)")
    p.set_defaults(handler=cmd_adf_export)
    return parser


def cmd_export_model(options: argparse.Namespace) -> int:
    if problem := _folder_problem(options.out, "output folder"):
        return _fail(problem, EXIT_USAGE)
    from models import registry
    from models.export import ExportError, export_model

    name = options.name or registry.MODEL_NAME
    uri = f"models:/{name}/{options.version}" if options.version else \
        f"models:/{name}@{options.alias or registry.CHAMPION_ALIAS}"
    try:
        info = export_model(options.out, uri)
    except registry.NoChampionError as error:
        return _fail(str(error), EXIT_CHECK_FAILED)
    except (registry.ModelNotFoundError, ExportError) as error:
        return _fail(f"cannot export {uri}: {error}", EXIT_USAGE)
    except OSError as error:
        return _write_failed(error, options.out)
    except Exception as error:  # MLflow's own errors for an unknown name, version or alias
        if type(error).__module__.startswith("mlflow"):
            return _fail(f"cannot export {uri}: {error}", EXIT_USAGE)
        raise
    print(f"exported {uri} (version {info['model_version']}, {info['family']}) to {options.out}")
    return EXIT_OK


def _counting(what: str) -> Callable[[str], int]:
    """An argparse type for a whole number from 1, named ``what`` in its error."""

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < 1:
            raise argparse.ArgumentTypeError(f"not {what} (1, 2, ...): {text!r}")
        return int(text)

    return parse


def cmd_adf_export(options: argparse.Namespace) -> int:
    if problem := _folder_problem(options.out, "output folder"):
        return _fail(problem, EXIT_USAGE)
    from adf_export.export import InvalidFactoryError, export

    try:
        written = export(options.out)
    except InvalidFactoryError as error:
        return _fail(str(error), EXIT_CHECK_FAILED)
    except OSError as error:
        return _write_failed(error, options.out)
    print(f"{len(written)} files under {options.out}")
    return EXIT_OK


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"not in [0, 1]: {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"not >= 0: {text}")
    return value


def _iso_date(text: str) -> str:
    try:
        return Date.fromisoformat(text).isoformat()
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from error


def main(argv: list[str] | None = None) -> int:
    import signal

    # Behave like other Unix filters in a pipe (`... | head`): end quietly when the reader goes away.
    if hasattr(signal, "SIGPIPE"):  # POSIX only
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    options = build_parser().parse_args(argv)
    return options.handler(options)


if __name__ == "__main__":
    sys.exit(main())
