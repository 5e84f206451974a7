"""Connecting a sweep to an existing Ray cluster: quickly, quietly, one clear error.

Left to itself, ``ray.init`` retries an address nobody answers at for minutes
(twenty attempts of up to 35 s each) and prints a warning line per attempt; a
cluster that refuses the client's token spams the log for half a minute before
failing; and with no cluster at all it tells the user to set an ``--address`` flag
this tool does not have. `ray_session` therefore:

1. resolves the address as Ray will (``auto``: the ``RAY_ADDRESS`` variable, else
   the cluster last started on this machine) and, if there is none, says how to
   give one (``--ray HOST:PORT`` or ``RAY_ADDRESS``);
2. opens a TCP connection to it with a `PROBE_TIMEOUT_S` timeout, so a dead or
   unreachable cluster fails within seconds;
3. connects with Ray's attempts capped at `CONNECT_ATTEMPTS` (unless the user set
   ``RAY_gcs_server_port_wait_time_s`` themselves) and Ray's own stderr held back,
   and turns any failure into one line: a token mismatch names the token settings,
   anything else the address and what to check.

Every failure is a `RayConnectError` (a `ConnectionError`), which the ``sweep``
command reports as one line with exit code 2. Nothing here starts a cluster.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

__all__ = [
    "CONNECT_ATTEMPTS",
    "PROBE_TIMEOUT_S",
    "RayConnectError",
    "ray_session",
]

PROBE_TIMEOUT_S = 5.0
"""Seconds a TCP connection to the cluster's address may take before it is dead."""

CONNECT_ATTEMPTS = 3
"""Attempts Ray makes to reach the cluster's GCS (about a second apart)."""

_ATTEMPTS_VARIABLE = "RAY_gcs_server_port_wait_time_s"  # Ray's connect budget

_HOW_TO_START = (
    "start one with 'ray start --head' and pass the address it prints as "
    "--ray HOST:PORT (or set RAY_ADDRESS=HOST:PORT and pass --ray auto), or leave "
    "out --ray to run on local processes"
)


class RayConnectError(ConnectionError):
    """No Ray cluster could be used at the given address (the message says why)."""


@contextlib.contextmanager
def ray_session(address: str, quiet: bool) -> Iterator[Any]:
    """Connect to an existing Ray cluster (or reuse this process's connection).

    Parameters
    ----------
    address : str
        ``"auto"``, ``"HOST:PORT"`` or a ``"ray://HOST:PORT"`` client address.
    quiet : bool
        Do not forward the workers' output to this terminal.

    Yields
    ------
    module
        The ``ray`` module, connected; disconnected again afterwards (unless the
        connection existed before).

    Raises
    ------
    ImportError
        If Ray is not installed.
    RayConnectError
        If there is no cluster to connect to, it does not answer within
        `PROBE_TIMEOUT_S`, or it refuses the connection.
    """
    try:
        import ray
    except ImportError:
        raise ImportError(
            "--ray needs Ray: pip install 'forecast-portfolio[distributed]'"
        ) from None
    if ray.is_initialized():
        yield ray
        return
    target = _bootstrap_address(address)
    if target is not None:
        _probe(address, target)
    _connect(ray, address, target, quiet)
    try:
        yield ray
    finally:
        ray.shutdown()


def _described(address: str) -> str:
    """The address as the user gave it, with where ``auto`` took it from."""
    from_environment = os.environ.get("RAY_ADDRESS")
    if address == "auto" and from_environment:
        return f"--ray auto (RAY_ADDRESS={from_environment})"
    return f"--ray {address}"


def _bootstrap_address(address: str) -> str | None:
    """The ``host:port`` Ray will connect to, or None where only Ray can tell.

    Raises
    ------
    RayConnectError
        If ``auto`` finds no cluster or the address is malformed.
    """
    if "://" in address:
        scheme, _, rest = address.partition("://")
        return rest.split("/")[0] if scheme == "ray" else None
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:  # a Ray without it: let ray.init resolve the address
        return None
    try:
        return canonicalize_bootstrap_address(address)
    except ConnectionError:
        # Ray's own message names an '--address' flag this tool does not have.
        raise RayConnectError(
            f"{_described(address)}: no running Ray cluster found (RAY_ADDRESS is "
            f"not set and none was started on this machine); {_HOW_TO_START}"
        ) from None
    except ValueError as err:
        raise RayConnectError(
            f"{_described(address)}: not a Ray address ({err}); use 'auto' or HOST:PORT"
        ) from None


def _probe(address: str, target: str) -> None:
    """Fail fast when nothing accepts a TCP connection at ``target``."""
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return  # not host:port; ray.init will say what is wrong
    try:
        with socket.create_connection(
            (host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S
        ):
            pass
    except OSError as err:
        if isinstance(err, TimeoutError):
            reason = f"no answer within {PROBE_TIMEOUT_S:g} s"
        else:
            reason = (err.strerror or str(err)).lower()
        raise RayConnectError(
            f"{_described(address)}: no Ray cluster answers at {target} ({reason}); "
            f"check the address, or {_HOW_TO_START}"
        ) from None


def _connect(ray: Any, address: str, target: str | None, quiet: bool) -> None:
    """``ray.init`` with bounded attempts, its stderr held back, one-line errors."""
    budget = (
        {}
        if _ATTEMPTS_VARIABLE in os.environ
        else {_ATTEMPTS_VARIABLE: str(CONNECT_ATTEMPTS)}
    )
    with _environment(budget), _held_stderr() as held:
        try:
            # An existing cluster only: a sweep never starts one behind the
            # user's back.
            ray.init(address=address, logging_level="ERROR", log_to_driver=not quiet)
        except Exception as err:
            failure = err
        else:
            return
    raise RayConnectError(
        _failure_message(address, target, failure, held.getvalue())
    ) from None


def _failure_message(
    address: str, target: str | None, err: BaseException, log: str
) -> str:
    """One line on why ``ray.init`` failed and what to do."""
    chain = [err]
    while len(chain) < 10 and (chain[-1].__cause__ or chain[-1].__context__):
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    text = "\n".join(f"{type(e).__name__}: {e}" for e in chain) + "\n" + log
    where = f" at {target}" if target else ""
    if "authenticat" in text.lower():
        return (
            f"{_described(address)}: the Ray cluster{where} requires an "
            "authentication token and this client's is missing or different; make "
            "the cluster's token available here as RAY_AUTH_TOKEN, in "
            "RAY_AUTH_TOKEN_PATH or in ~/.ray/auth_token ('ray get-auth-token' on "
            "the head node prints it) and run again"
        )
    # The deepest error's last line says most (Ray wraps it in tracebacks).
    lines = [line for line in str(chain[-1]).splitlines() if line.strip()]
    detail = " ".join((lines[-1] if lines else type(chain[-1]).__name__).split())
    import ray

    return (
        f"{_described(address)}: could not connect to the Ray cluster{where} "
        f"({detail[:300]}); check that it is running ('ray status' on its head "
        f"node) and runs the same Ray version as this client ({ray.__version__})"
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore them."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Held:
    """What was written to stderr while it was held back."""

    def __init__(self) -> None:
        self.text = ""

    def getvalue(self) -> str:
        return self.text


@contextlib.contextmanager
def _held_stderr() -> Iterator[_Held]:
    """Hold back everything written to file descriptor 2 (Ray's C++ core too)."""
    held = _Held()
    descriptor = 2  # Ray's C++ core writes here, whatever sys.stderr is
    try:
        saved = os.dup(descriptor)
    except OSError:  # no stderr at all: nothing to hold back
        yield held
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), descriptor)
        try:
            yield held
        finally:
            sys.stderr.flush()
            os.dup2(saved, descriptor)
            os.close(saved)
            sink.seek(0)
            held.text = sink.read().decode("utf-8", "replace")
