"""Output folders (runs, rebalance plans, sweeps): written whole, replaced only if ours.

A folder is first written into a hidden sibling (``.NAME.partial``) and renamed into
place when complete, so a failed or interrupted command leaves no half-written
output. An existing folder is replaced only with ``force=True``, and even then only
when it is recognisably one this tool wrote: it carries our marker file, and it holds
nothing but the files we wrote into it. A folder of the user's documents, a plain
file, the working directory or one of its parents is never replaced: replacing means
deleting, and nothing of the user's is ever deleted.

Folders written before the marker existed are recognised by their exact file set.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

__all__ = [
    "MARKER",
    "OutputKind",
    "RunExistsError",
    "NotOurFolderError",
    "OutputLocationError",
    "check_output",
    "partial_folder",
    "staging",
]

OutputKind = Literal["run", "plan", "sweep", "model"]

# Written into every output folder; its presence (and its file list) is what makes a
# folder replaceable with --force.
MARKER = ".forecast-portfolio.json"
TOOL = "forecast-portfolio"

# The exact file sets of each kind before the marker existed (legacy folders).
_LEGACY_REQUIRED: dict[str, set[str]] = {
    "run": {"config.yaml", "metrics.json", "returns.csv", "rebalances.csv"},
    "plan": {"config.yaml", "trades.csv", "target_weights.csv", "summary.md"},
    "sweep": {"sweep.yaml", "points"},
    "model": {MARKER},  # no model folder predates the marker
}
_LEGACY_ALLOWED: dict[str, set[str]] = {
    "run": _LEGACY_REQUIRED["run"]
    | {
        "gross_returns.csv",
        "weights.csv",
        "trades.csv",
        "forecasts.csv",
        "forecast_skill.csv",
        "risk_free.csv",
        "assets.csv",
        "timings.json",
        "report.html",
        "metrics.csv",
    },
    "plan": _LEGACY_REQUIRED["plan"] | {"risk.csv", "constraints.csv", "holdings.csv"},
    "sweep": _LEGACY_REQUIRED["sweep"] | {"leaderboard.csv", "leaderboard.md"},
    "model": _LEGACY_REQUIRED["model"],
}
# Files a later command may add to a finished folder (``portfolio report``).
_ADDED_LATER = {"report.html", "metrics.csv"}


class RunExistsError(FileExistsError):
    """The output folder already exists and ``--force`` was not given."""


class NotOurFolderError(FileExistsError):
    """``--force`` was given for something this tool did not write."""


class OutputLocationError(OSError):
    """The output location cannot be written (read-only, full, not a folder)."""


def check_output(out: Path, *, force: bool, kind: OutputKind = "run") -> None:
    """Refuse an output location that must not be written or replaced.

    Call it before any slow work, so a mistake costs nothing.

    Raises
    ------
    RunExistsError
        If ``out`` exists and ``force`` is False.
    NotOurFolderError
        If ``out`` is the working directory or one of its parents, a plain file, a
        link, or a folder this tool did not write (or that holds files it did not
        write), whatever ``force`` says.
    """
    out = Path(out)
    _refuse_enclosing(out)
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise RunExistsError(
            f"{out} already exists; choose another --out or pass --force to replace it"
        )
    if out.is_symlink() or not out.is_dir():
        raise NotOurFolderError(
            f"{out} is not a folder written by this tool (it is a file or a link); "
            "--force only replaces output folders this tool wrote: choose another --out"
        )
    foreign = _foreign_entries(out, kind)
    if foreign is not None:
        raise NotOurFolderError(
            f"{out} is not a {kind} folder written by this tool ({foreign}); --force "
            "only replaces output folders this tool wrote: choose another --out"
        )


def _refuse_enclosing(out: Path) -> None:
    # Replacing the working directory or a parent would take everything in it.
    target = out.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents or target == Path(target.anchor):
        raise NotOurFolderError(
            f"--out {out} is the working directory or one of its parents; choose a "
            "new folder for the output (e.g. runs/NAME)"
        )


def _foreign_entries(folder: Path, kind: str) -> str | None:
    """None if ``folder`` is recognisably ours, else what makes it not so."""
    names = {entry.name for entry in folder.iterdir()}
    written = _read_marker(folder / MARKER, kind)
    if written is not None:
        extra = names - written - {MARKER} - _ADDED_LATER
    elif MARKER in names:
        return f"its {MARKER} is not a {kind} marker"
    elif _LEGACY_REQUIRED[kind] <= names:
        extra = names - _LEGACY_ALLOWED[kind]
    else:
        return "it has no marker of this tool" if names else "it is an empty folder"
    if extra:
        listed = ", ".join(sorted(extra)[:5])
        return f"it holds files this tool did not write: {listed}"
    return None


def _read_marker(path: Path, kind: str) -> set[str] | None:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    if document.get("tool") != TOOL or document.get("kind") != kind:
        return None
    files = document.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def _write_marker(folder: Path, kind: str, *, partial: bool = False) -> None:
    names = sorted(entry.name for entry in folder.iterdir() if entry.name != MARKER)
    document = {"tool": TOOL, "kind": kind, "partial": partial, "files": names}
    (folder / MARKER).write_text(json.dumps(document, indent=1) + "\n")


def partial_folder(out: Path) -> Path:
    """The hidden work folder of an output being written to ``out``."""
    return Path(out).parent / f".{Path(out).name}.partial"


def _claim_partial(work: Path, kind: str) -> None:
    """Create the work folder, or take over one of ours (an interrupted run)."""
    if work.is_symlink() or (work.exists() and not work.is_dir()):
        raise NotOurFolderError(
            f"{work} exists and is not a work folder of this tool; move it away"
        )
    if work.is_dir():
        names = {entry.name for entry in work.iterdir()}
        ours = (MARKER in names) or names <= (_LEGACY_ALLOWED[kind] | {"checkpoint"})
        if not ours:
            raise NotOurFolderError(
                f"{work} exists and holds files this tool did not write; move it away"
            )
    else:
        work.mkdir()
    _write_marker(work, kind, partial=True)


def _has_checkpoint(work: Path) -> bool:
    return (work / "checkpoint").is_dir() and any((work / "checkpoint").iterdir())


@contextlib.contextmanager
def staging(
    out: Path, *, force: bool = False, kind: OutputKind = "run"
) -> Iterator[Path]:
    """Yield a hidden work folder that becomes ``out`` when the block succeeds.

    On an error ``out`` is untouched and the work folder is removed, unless it holds
    resume checkpoints: progress that running the same command again can use is
    never thrown away. On an interruption (Ctrl-C) it is kept for the same reason. It
    is hidden and never mistaken for a finished output folder.

    Raises
    ------
    RunExistsError, NotOurFolderError
        See `check_output`.
    OutputLocationError
        If the location cannot be written (read-only, disk full, not a folder).
    """
    out = Path(out)
    check_output(out, force=force, kind=kind)
    work = partial_folder(out)
    with _writable(out):
        out.parent.mkdir(parents=True, exist_ok=True)
        _claim_partial(work, kind)
    try:
        yield work
        with _writable(out):
            _write_marker(work, kind)
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        if not _has_checkpoint(work):
            shutil.rmtree(work, ignore_errors=True)
        if _is_write_failure(err, work):
            raise _location_error(out, err) from None
        raise
    backup = out.parent / f".{out.name}.old-{os.getpid()}"
    with _writable(out):
        if out.exists():
            # check_output ran before the slow work; the folder may have changed.
            check_output(out, force=True, kind=kind)
            out.rename(backup)
        try:
            work.rename(out)
        except OSError:
            if backup.exists():
                backup.rename(out)
            raise
    shutil.rmtree(backup, ignore_errors=True)


# Errors that mean "this place cannot take the output", whatever file raised them.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def _is_write_failure(err: BaseException, work: Path) -> bool:
    if not isinstance(err, OSError) or isinstance(err, FileExistsError):
        return False
    if err.errno in _NO_SPACE:
        return True
    filename = Path(str(err.filename)) if err.filename else None
    return filename is not None and work.resolve() in filename.resolve().parents


def _location_error(out: Path, err: OSError) -> OutputLocationError:
    reason = err.strerror or str(err)
    where = f" ({err.filename})" if err.filename else ""
    return OutputLocationError(
        f"cannot write the output at {out}: {reason}{where}; choose a writable "
        "--out with free space"
    )


@contextlib.contextmanager
def _writable(out: Path) -> Iterator[None]:
    """Turn an OS refusal to write near ``out`` into one clear error."""
    try:
        yield
    except (NotOurFolderError, RunExistsError):
        raise
    except OSError as err:
        raise _location_error(out, err) from None
