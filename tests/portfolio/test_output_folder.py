"""Output folders: --force replaces only what this tool wrote; nothing else is lost."""

import errno
import json
from pathlib import Path

import pytest

from foliocast.portfolio.output_folder import (
    MARKER,
    NotOurFolderError,
    OutputLocationError,
    RunExistsError,
    check_output,
    partial_folder,
    staging,
)


def _write_run(out, files=("config.yaml", "metrics.json", "returns.csv"), force=True):
    with staging(out, force=force) as folder:
        for name in files:
            (folder / name).write_text(name)
    return out


def _contents(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_a_finished_folder_carries_the_marker_with_its_files(tmp_path):
    out = _write_run(tmp_path / "run")
    marker = json.loads((out / MARKER).read_text())
    assert marker["kind"] == "run" and marker["partial"] is False
    assert marker["files"] == ["config.yaml", "metrics.json", "returns.csv"]
    assert not partial_folder(out).exists()


def test_force_replaces_a_folder_this_tool_wrote(tmp_path):
    out = _write_run(tmp_path / "run")
    (out / "report.html").write_text("rebuilt later by portfolio report")
    _write_run(out, files=("config.yaml",))
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "config.yaml"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_without_force_an_existing_folder_is_refused(tmp_path):
    out = _write_run(tmp_path / "run")
    with pytest.raises(RunExistsError, match="--force"):
        _write_run(out, force=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: (p.mkdir(), (p / "thesis.docx").write_text("years of work")),
        lambda p: p.write_text("a plain file"),
        lambda p: p.mkdir(),  # empty, but not ours either
        lambda p: (p.mkdir(), (p / MARKER).write_text("{not json")),
        # Has every file of a legacy run folder, and the user's own file too.
        lambda p: (
            p.mkdir(),
            *[
                (p / n).write_text(n)
                for n in [
                    "config.yaml",
                    "metrics.json",
                    "returns.csv",
                    "rebalances.csv",
                    "notes.txt",
                ]
            ],
        ),
    ],
    ids=["documents", "file", "empty", "bad-marker", "legacy-plus-notes"],
)
def test_force_never_replaces_what_this_tool_did_not_write(tmp_path, make):
    out = tmp_path / "target"
    make(out)
    before = out.read_bytes() if out.is_file() else _contents(out)
    with pytest.raises(
        NotOurFolderError,
        match="not a run folder written by this|not a folder written by this tool",
    ):
        _write_run(out)
    after = out.read_bytes() if out.is_file() else _contents(out)
    assert after == before
    assert not partial_folder(out).exists()


def test_force_refuses_a_tool_folder_where_the_user_added_files(tmp_path):
    out = _write_run(tmp_path / "run")
    (out / "my_notes.txt").write_text("keep me")
    with pytest.raises(NotOurFolderError, match="my_notes.txt"):
        _write_run(out)
    assert (out / "my_notes.txt").read_text() == "keep me"


def test_a_legacy_run_folder_without_marker_is_recognised(tmp_path):
    out = tmp_path / "old_run"
    out.mkdir()
    for name in [
        "config.yaml",
        "metrics.json",
        "returns.csv",
        "rebalances.csv",
        "weights.csv",
        "report.html",
    ]:
        (out / name).write_text(name)
    check_output(out, force=True, kind="run")
    with pytest.raises(NotOurFolderError):
        check_output(out, force=True, kind="plan")  # a run is not a plan


def test_a_parent_of_earlier_runs_is_never_replaced(tmp_path, monkeypatch):
    # name: "." made the output runs/. -- that is the folder of every earlier run.
    runs = tmp_path / "runs"
    first, second = _write_run(runs / "a"), _write_run(runs / "b")
    before = _contents(runs)
    with pytest.raises(NotOurFolderError):
        _write_run(runs / ".")
    assert _contents(runs) == before and first.is_dir() and second.is_dir()


@pytest.mark.parametrize("out", [".", "..", "./", "sub/.."])
def test_the_working_directory_and_its_parents_are_refused(tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "mine.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(NotOurFolderError, match="working directory"):
            check_output(Path(out), force=force)
    assert (tmp_path / "mine.txt").read_text() == "mine"


def test_a_users_folder_in_the_partial_location_is_not_touched(tmp_path):
    out = tmp_path / "run"
    work = partial_folder(out)
    work.mkdir()
    (work / "private.txt").write_text("mine")
    with pytest.raises(NotOurFolderError, match="did not write"):
        _write_run(out)
    assert (work / "private.txt").read_text() == "mine"


def test_a_failure_keeps_resume_progress_and_drops_the_rest(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError), staging(out) as folder:
        (folder / "returns.csv").write_text("half")
        raise RuntimeError("boom")
    assert not partial_folder(out).exists() and not out.exists()
    with pytest.raises(RuntimeError), staging(out) as folder:
        (folder / "checkpoint" / "current").mkdir(parents=True)
        (folder / "checkpoint" / "current" / "state.json").write_text("{}")
        raise RuntimeError("boom")
    assert (partial_folder(out) / "checkpoint" / "current" / "state.json").is_file()
    assert not out.exists()
    _write_run(out)  # the kept work folder is ours: the rerun takes it over
    assert (out / "checkpoint" / "current" / "state.json").is_file()


def test_an_unwritable_location_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(OutputLocationError, match="cannot write the output"):
        _write_run(blocker / "run")


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(OutputLocationError, match="No space left"):
        with staging(out) as folder:
            (folder / "config.yaml").write_text("x")
            raise OSError(errno.ENOSPC, "No space left on device", str(folder / "x"))
    assert list(tmp_path.iterdir()) == []
