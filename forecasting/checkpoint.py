"""Safe on-disk format for trained models: weights as ``.npz``, the rest as JSON.

A checkpoint is a folder with two files:

- ``weights.npz``: every ``nnx.Param`` of the model, keyed by its path in the module
  tree joined with ``/`` (plain arrays, read with ``allow_pickle=False``);
- ``checkpoint.json``: whatever metadata the caller passes (configuration, scalers,
  feature names, tickers, training summary) plus the data fingerprint and library
  versions.

Nothing is pickled, so loading a checkpoint cannot run code. The data fingerprint
(sha256 of the training prices) lets a user check that a model was trained on the data
they think it was. The metadata also holds the sha256 of the weights file and of
itself: a truncated, corrupted or hand-edited checkpoint is refused with
`CheckpointError`, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import flax
import jax
import numpy as np
from flax import nnx

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "file_sha256",
    "save_checkpoint",
    "load_checkpoint_metadata",
    "load_checkpoint_weights",
]

FORMAT_VERSION = 2  # 2: checksums of the weights and of the metadata
WEIGHTS_FILE = "weights.npz"
METADATA_FILE = "checkpoint.json"
_SELF_DIGEST = "metadata_sha256"


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, incomplete, or not as it was written."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Return the sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _document_digest(document: dict[str, Any]) -> str:
    body = {k: v for k, v in document.items() if k != _SELF_DIGEST}
    text = json.dumps(body, sort_keys=True, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _flat_params(model: nnx.Module) -> dict[str, np.ndarray]:
    pure = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    flat: dict[str, np.ndarray] = {}

    def visit(prefix: tuple[str, ...], node: Any) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                visit(prefix + (str(key),), child)
        else:
            flat["/".join(prefix)] = np.asarray(node)

    visit((), pure)
    return flat


def save_checkpoint(
    path: str | os.PathLike[str], model: nnx.Module, metadata: dict[str, Any]
) -> Path:
    """Write ``model``'s parameters and ``metadata`` to the folder ``path``.

    The files are written to a temporary folder next to ``path`` and moved into place,
    so a failed save never leaves a half-written checkpoint.

    Parameters
    ----------
    path : path-like
        Target folder; an existing checkpoint there is replaced.
    model : nnx.Module
    metadata : dict
        JSON-serialisable.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and holds anything but a checkpoint.
    """
    target = Path(path)
    if target.exists() and not _is_checkpoint(target):
        raise FileExistsError(
            f"{target} exists and is not a checkpoint folder; choose another path"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "format_version": FORMAT_VERSION,
        "versions": {"jax": jax.__version__, "flax": flax.__version__},
        **metadata,
    }
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        np.savez(staging / WEIGHTS_FILE, **_flat_params(model))
        document["weights_sha256"] = file_sha256(staging / WEIGHTS_FILE)
        document[_SELF_DIGEST] = _document_digest(document)
        text = json.dumps(document, indent=2, sort_keys=True, allow_nan=False)
        (staging / METADATA_FILE).write_text(text)
        if target.exists():
            # Move the old checkpoint aside first so that a crash in between leaves
            # either the old or the new one, never a mix.
            retired = staging.with_name(staging.name + ".old")
            target.rename(retired)
            staging.rename(target)
            _remove_checkpoint(retired)
        else:
            staging.rename(target)
    except BaseException:
        if staging.exists():
            _remove_checkpoint(staging)
        raise
    return target


def _is_checkpoint(folder: Path) -> bool:
    names = {child.name for child in folder.iterdir()} if folder.is_dir() else None
    return names is not None and names <= {WEIGHTS_FILE, METADATA_FILE}


def _remove_checkpoint(folder: Path) -> None:
    for name in (WEIGHTS_FILE, METADATA_FILE):
        (folder / name).unlink(missing_ok=True)
    folder.rmdir()


def load_checkpoint_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the JSON metadata of a checkpoint folder.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a checkpoint folder.
    CheckpointError
        If the file is not valid JSON, was changed after it was written, or has an
        unsupported format version.
    """
    file = Path(path) / METADATA_FILE
    if not file.exists():
        raise FileNotFoundError(f"{file} not found: is {path} a checkpoint folder?")
    try:
        metadata = json.loads(file.read_text())
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(
            f"{file} is corrupt (not valid JSON); the checkpoint cannot be trusted"
        ) from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{file} is corrupt (not a JSON object)")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}; this code reads "
            f"version {FORMAT_VERSION} (refit the model to write a new checkpoint)"
        )
    if metadata.get(_SELF_DIGEST) != _document_digest(metadata):
        raise CheckpointError(
            f"{file} was changed after it was written (its checksum does not match); "
            "the checkpoint cannot be trusted"
        )
    return metadata


def load_checkpoint_weights(path: str | os.PathLike[str], model: nnx.Module) -> None:
    """Load saved parameters into ``model`` (built with the saved configuration).

    Raises
    ------
    CheckpointError
        If the weights file is missing, corrupt or not the one the metadata names.
    ValueError
        If parameter names or shapes differ from the model's.
    """
    expected = _flat_params(model)
    file = Path(path) / WEIGHTS_FILE
    metadata = load_checkpoint_metadata(path)
    if not file.is_file() or file_sha256(file) != metadata.get("weights_sha256"):
        raise CheckpointError(
            f"{file} is missing, truncated or changed (its checksum does not match "
            "the checkpoint); the checkpoint cannot be trusted"
        )
    with np.load(file, allow_pickle=False) as archive:
        saved = {key: archive[key] for key in archive.files}
    if set(saved) != set(expected):
        missing = sorted(set(expected) - set(saved))
        extra = sorted(set(saved) - set(expected))
        raise ValueError(
            f"checkpoint {path} does not match the model: missing {missing}, "
            f"unexpected {extra}"
        )
    for key, value in saved.items():
        if value.shape != expected[key].shape:
            raise ValueError(
                f"checkpoint {path}: parameter {key} has shape {value.shape}, "
                f"the model expects {expected[key].shape}"
            )
    state = nnx.state(model, nnx.Param)
    nested: dict[str, Any] = {}
    for key, value in saved.items():
        node = nested
        *parents, leaf = key.split("/")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    nnx.replace_by_pure_dict(state, _restore_int_keys(nested))
    nnx.update(model, state)


def _restore_int_keys(node: Any) -> Any:
    # nnx.List children are indexed by int; JSON-like paths turned them into str.
    if not isinstance(node, dict):
        return node
    return {
        (int(key) if key.isdigit() else key): _restore_int_keys(child)
        for key, child in node.items()
    }
