"""Ctrl-C (SIGINT) during a command: exit status 130, one line on stderr, nothing left behind."""

import os
import signal
import subprocess
import sys
import time

import pytest

from scintiml.datasets import make_mibg_cohort

CLI = [sys.executable, "-c", "from scintiml.cli import main; main()"]


def _start(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # a shell that starts jobs in the background without job control (`(bash -c '...' &)`) makes them ignore
    # SIGINT, and the CLI inherits that: it then runs to the end (exit 0) and the test would say nothing about
    # Ctrl-C. The child gets the default disposition back, as a terminal would give it.
    return subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _interrupt_when(proc, ready, timeout=120.0, signum=signal.SIGINT):
    """Send SIGINT (or ``signum``) as soon as ``ready()`` holds; fail when the command ends first."""
    start = time.monotonic()
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the command ended (status {proc.returncode}) before it could be interrupted: "
                        f"{proc.stderr.read()[-500:]}")
        if time.monotonic() - start > timeout:
            proc.kill()
            pytest.fail("the command never reached the point to interrupt")
        time.sleep(0.01)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, [line for line in err.splitlines() if line.strip()]


def _temp_siblings(folder, name):
    return [p.name for p in folder.iterdir() if p.name.startswith(f".{name}.")]


@pytest.fixture
def cohort_csv(tmp_path):
    cohort = make_mibg_cohort(n_patients=200, random_state=0)
    frame = cohort.X[["delta_lvef", "planar_washout", "age", "baseline_lvef"]].copy()
    frame["outcome"] = cohort.y
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("moment", ["computing", "writing"])
def test_sigint_during_study(tmp_path, cohort_csv, moment):
    """Interrupted while the networks train, and while the report is being written into the temp folder."""
    out = tmp_path / "study"
    proc = _start(["study", str(cohort_csv), "--target", "outcome", "--inputs", "all", "--out", str(out)], tmp_path)
    start = time.monotonic()
    if moment == "computing":
        ready = lambda: time.monotonic() - start > 4.0  # imports done, the study is under way
    else:
        ready = lambda: bool(_temp_siblings(tmp_path, "study"))  # the output is being written
    code, lines = _interrupt_when(proc, ready)
    assert code == 130
    assert len(lines) == 1 and lines[0].startswith("interrupted"), lines
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.csv"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_clean_up_as_ctrl_c_does(tmp_path, cohort_csv, signum):
    # their default action ended the process on the spot: the temporary output folder was left beside --out
    out = tmp_path / "study"
    proc = _start(["study", str(cohort_csv), "--target", "outcome", "--inputs", "all", "--out", str(out)], tmp_path)
    code, lines = _interrupt_when(proc, lambda: bool(_temp_siblings(tmp_path, "study")), signum=signum)
    assert code == 128 + signum
    assert lines == [f"stopped by {signal.Signals(signum).name}: nothing was written"], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort.csv"]


def test_sigint_during_simulate(tmp_path):
    pytest.importorskip("pydicom")
    out = tmp_path / "sim"
    proc = _start(["simulate", "--out", str(out), "--n", "50"], tmp_path)
    code, lines = _interrupt_when(proc, lambda: bool(_temp_siblings(tmp_path, "sim")))
    assert code == 130
    assert len(lines) == 1 and lines[0].startswith("interrupted"), lines
    assert not out.exists() and list(tmp_path.iterdir()) == []


class _InterruptsWhileCollected:
    """Sends this process SIGINT from ``__del__`` and keeps running Python there, so that the handler's
    KeyboardInterrupt is raised inside ``__del__``, where Python swallows it ("Exception ignored in ...") — what
    happens when a Ctrl-C lands while the garbage collector runs a finaliser."""

    def __del__(self):
        signal.raise_signal(signal.SIGINT)
        for _ in range(1000):  # the handler runs between these bytecodes, inside __del__
            pass


def _write_through_a_swallowed_interrupt(out):
    from scintiml.io import atomic_dir

    with atomic_dir(out) as tmp:
        (tmp / "results.json").write_text("{}")
        obj = _InterruptsWhileCollected()
        del obj  # the interrupt is raised and swallowed here; the block goes on as if nothing happened


def test_a_ctrl_c_python_swallows_still_stops_the_output(tmp_path, monkeypatch):
    swallowed = []  # what Python would print as "Exception ignored in ..."
    monkeypatch.setattr(sys, "unraisablehook", swallowed.append)
    # Python's own Ctrl-C handler, as a command starts with (a test run before may have left another one)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _check_the_latch(tmp_path, swallowed)
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_the_latch(tmp_path, swallowed):
    from scintiml.io import interrupt_latch

    # without the latch the interrupt is lost and the output published: the failure the latch prevents
    _write_through_a_swallowed_interrupt(tmp_path / "lost")
    assert [type(u.exc_value) for u in swallowed] == [KeyboardInterrupt]
    assert (tmp_path / "lost" / "results.json").exists()
    with pytest.raises(KeyboardInterrupt):
        with interrupt_latch():
            _write_through_a_swallowed_interrupt(tmp_path / "kept")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lost"]  # neither the output nor its temp folder
    assert len(swallowed) == 1  # the latch handled the second one: no traceback printed for it
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the latch put the handler back
    assert sys.unraisablehook == swallowed.append


def test_output_folders_get_the_mode_a_plain_mkdir_gives_and_a_linked_output_is_refused(tmp_path):
    """mkdtemp's 0700 had made every study folder unreadable to colleagues on a shared drive; an --out that is a
    symbolic link failed after the whole study with an internal temporary path in the message."""
    import os
    import stat

    from scintiml.io import atomic_dir
    from scintiml.io.atomic import OutputDirectoryError, check_output_path

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "study") as tmp:
            (tmp / "model").mkdir(mode=0o700)  # as a writer that makes its own temporary folder leaves it
            (tmp / "report.html").write_text("<html></html>")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "study", tmp_path / "study" / "model")}
    assert modes == {"study": 0o755, "model": 0o755}
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for overwrite in (False, True):
        with pytest.raises(OutputDirectoryError, match="'.*link' is a symbolic link; give the path of the folder "
                                                       "itself"):
            check_output_path(tmp_path / "link", overwrite=overwrite, kind="folder")


def test_predict_refuses_an_output_named_as_another_format(small_frame, tmp_path):
    from scintiml.bundle import predict_file, save_bundle
    from scintiml.cohort import load_cohort
    from scintiml.errors import ScintimlError
    from scintiml.study import run_study

    model = save_bundle(run_study(load_cohort(small_frame, "outcome", id_column="pid", min_events=5),
                                  inputs="all", readiness=False, selection="split"), tmp_path / "model")
    small_frame.to_csv(tmp_path / "new.csv", index=False)
    with pytest.raises(ScintimlError, match="predictions are written as CSV, but .* names a .xlsx file"):
        predict_file(model, tmp_path / "new.csv", tmp_path / "p.xlsx")
    assert not (tmp_path / "p.xlsx").exists()


def test_a_file_output_that_appears_while_writing_is_not_replaced(tmp_path):
    # two `predict --out p.csv` at once both passed the check at their start; the later rename silently dropped
    # the earlier's 50 predictions while both said "written"
    from scintiml.io import OutputExistsError, atomic_file

    target = tmp_path / "p.csv"
    with pytest.raises(OutputExistsError, match="appeared while this run was writing it"):
        with atomic_file(target) as tmp:
            tmp.write_text("mine\n")
            target.write_text("the other run's\n")
    assert target.read_text() == "the other run's\n" and sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]
    with atomic_file(target, overwrite=True) as tmp:  # asked for: replaced
        tmp.write_text("mine\n")
    assert target.read_text() == "mine\n"


def test_machine_errors_are_one_line_with_the_cause_and_the_users_path():
    # pydicom re-raises a full disk as OSError(its traceback text), the errno only in the cause; a temp path
    # (.study.tmp-x1y2) was named instead of the output's
    import errno

    from scintiml.cli.base import missing_package_line, os_error_line

    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "out/.study.tmp-k3j2/x.dcm")
        except OSError as original:
            raise OSError("With tag (7FE0,0010) got exception: ... Traceback (most recent call last): ...") from original
    except OSError as wrapped:
        line = os_error_line(wrapped)
    assert line == ("No space left on device (out/study/x.dcm); the disk is full: free some space or write the output "
                    "elsewhere")
    assert "Traceback" not in line
    assert missing_package_line(ModuleNotFoundError("No module named 'torch'", name="torch")).endswith(
        "pip install 'scintiml[cnn]'")
    assert missing_package_line(ModuleNotFoundError("No module named 'weasyprint'", name="weasyprint")).endswith(
        "pip install --force-reinstall scintiml")


def test_an_output_that_cannot_be_shown_in_the_terminal_encoding_is_escaped_not_a_crash(tmp_path):
    # PYTHONIOENCODING=ascii (or a latin-1 console): the first em dash or accented value crashed the command with
    # a traceback after its output was written
    rows = ["age,y"] + [f"{i},{'décès' if i % 2 else 'vivant'}" for i in range(30)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run([*CLI, "describe", str(tmp_path / "t.csv"), "--target", "y", "--positive", "décès"],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
    assert b"events (y = 'd\\xe9c\\xe8s')" in done.stdout


def _closed_pipe():
    """A pipe whose reader has gone (``| head -1`` after its line): every write to it fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    return write_end


def test_a_reader_that_stops_reading_does_not_stop_the_run(tmp_path):
    # the first result line meets a closed pipe; the work after it must still be done, and the status be the run's
    marker = tmp_path / "written"
    code = ("from scintiml.cli.base import say\n"
            "say('first result line'); say('second')\n"
            f"open({str(marker)!r}, 'w').write('done')\n")
    write_end = _closed_pipe()
    try:
        run = subprocess.run([sys.executable, "-c", code], stdout=write_end, stderr=subprocess.PIPE, text=True,
                             timeout=120)
    finally:
        os.close(write_end)
    assert run.returncode == 0, run.stderr
    assert marker.read_text() == "done"
    assert "BrokenPipe" not in run.stderr and "Traceback" not in run.stderr


def test_describe_into_a_closed_pipe_ends_with_its_own_status(cohort_csv, tmp_path):
    path = cohort_csv
    write_end = _closed_pipe()
    try:
        run = subprocess.run([*CLI, "describe", str(path), "--target", "outcome"], stdout=write_end,
                             stderr=subprocess.PIPE, text=True, timeout=120, cwd=tmp_path)
    finally:
        os.close(write_end)
    assert run.returncode == 0, run.stderr  # rich's default was a silent SystemExit(1)
    assert "Traceback" not in run.stderr and "error:" not in run.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_signal_landing_as_the_temporary_output_is_made_leaves_nothing(tmp_path, monkeypatch, kind, signum):
    # the signal arrives the moment the temporary exists, before the code that made it has named it: with
    # mkdtemp/mkstemp (and a signal mask that released the signal before the cleanup's try) it was left behind
    from scintiml.io import atomic_dir, atomic_file, interrupt_latch

    making = os.mkdir if kind == "folder" else os.open

    def make_then_signal(path, *args, **kwargs):
        made = making(path, *args, **kwargs)
        if ".tmp-" in os.fspath(path):
            os.kill(os.getpid(), signum)
        return made

    monkeypatch.setattr(os, "mkdir" if kind == "folder" else "open", make_then_signal)
    writer = atomic_dir if kind == "folder" else atomic_file
    body_ran = []
    with pytest.raises(KeyboardInterrupt):  # Terminated is a KeyboardInterrupt too: it unwinds the same way
        with interrupt_latch():
            with writer(tmp_path / "out") as tmp:
                body_ran.append(tmp)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_ctrl_c_during_the_imports_is_the_usual_line_not_a_traceback(monkeypatch, capsys):
    # the imports take 2-3 s of CPU (more on a busy machine): a Ctrl-C then was a Python traceback of importlib
    import importlib

    import scintiml.cli as cli

    monkeypatch.delitem(cli.__dict__, "app", raising=False)  # as in a fresh process: nothing loaded yet

    def interrupted(name, package=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(importlib, "import_module", interrupted)
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 130
    assert capsys.readouterr().err == "interrupted: nothing was written\n"


def test_importing_the_package_and_its_command_line_loads_no_numerical_library():
    code = ("import sys, scintiml, scintiml.cli\n"
            "print(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'typer', 'rich') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr


def test_the_package_gives_its_submodules_and_the_cli_its_typer_app_by_name():
    # the lazy package import had lost `scintiml.cohort.read_table` after `import scintiml`, and importing the
    # app command's module first made `scintiml.cli.app` that module rather than the Typer app
    code = ("import scintiml, scintiml.cli.webapp\n"
            "from scintiml.cli import app\n"
            "print(scintiml.cohort.read_table.__name__, scintiml.errors.ScintimlError.__name__, type(app).__name__)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["read_table", "ScintimlError", "Typer"], run.stderr


def test_overwrite_replaces_only_a_folder_scintiml_wrote(tmp_path):
    # --overwrite onto a folder holding the user's own files deleted them (``--out ~/Desktop --overwrite``, or the
    # summaries folder beside a worklist that the user never named)
    from scintiml.errors import OutputDirectoryError
    from scintiml.io.atomic import OUTPUT_MARKER, atomic_dir

    mine = tmp_path / "desktop"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    (mine / "sub" / "scan.dcm").write_bytes(b"x")
    with pytest.raises(OutputDirectoryError, match=r"holds files scintiml did not write \('notes.txt', 'sub', "
                                                   r"'sub/scan.dcm'; or an output of scintiml before 0\.7\.1.*\)"
                                                   r".*nothing was changed"):
        with atomic_dir(mine, overwrite=True) as tmp:
            (tmp / "results.json").write_text("{}")
    assert sorted(str(p.relative_to(mine)) for p in mine.rglob("*")) == ["notes.txt", "sub", "sub/scan.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["desktop"]  # no temporary folder left

    ours = tmp_path / "study"
    with atomic_dir(ours) as tmp:
        (tmp / "a.txt").write_text("first")
    (ours / "a.txt").write_text("edited")  # scintiml's own output, changed or not, may be replaced
    with atomic_dir(ours, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in ours.iterdir()) == [OUTPUT_MARKER, "b.txt"]

    old = tmp_path / "old"  # written before the marker existed: replaced when the rerun holds all its names
    old.mkdir()
    (old / "results.json").write_text("{}")
    with atomic_dir(old, overwrite=True) as tmp:
        (tmp / "results.json").write_text('{"new": 1}')
    assert (old / "results.json").read_text() == '{"new": 1}'
