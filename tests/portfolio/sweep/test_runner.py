"""Parameter sweeps: grid files, point order, leaderboard, local and Ray runs, CLI."""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from foliocast.portfolio.backtest.runfolder import RunExistsError, load_run
from foliocast.portfolio.config import ConfigError
from foliocast.portfolio.sweep.ray_cluster import (
    CONNECT_ATTEMPTS,
    RayConnectError,
    ray_session,
)
from foliocast.portfolio.sweep.runner import (
    SweepError,
    SweepSpec,
    _labels,
    _rank,
    grid_points,
    leaderboard_html,
    load_grid,
    run_sweep,
    spec_from_dict,
)
from foliocast.risk.significance import deflated_sharpe_ratio

EXPERIMENTS = Path(__file__).resolve().parents[3] / "experiments"
QUICK = EXPERIMENTS / "sweep_quick.yaml"


def quick_values() -> dict:
    return yaml.safe_load(QUICK.read_text())


def with_grid(grid: dict, **extra) -> dict:
    return {**quick_values(), "grid": grid, **extra}


# --------------------------------------------------------------- grid files


def test_quick_sweep_loads():
    spec = load_grid(QUICK)
    assert spec.name == "sweep_quick"
    assert spec.keys == ("optimizer.constraints.max_weight",)
    assert spec.size == 2
    assert (spec.metric, spec.strategy) == ("sharpe", "min_variance")
    assert spec.base["backtest"]["start"] == "2016-01-01"


def test_base_file_is_relative_to_the_sweep_file(tmp_path, monkeypatch):
    (tmp_path / "base.yaml").write_text("name: mine\noptimizer: {risk_aversion: 3}\n")
    (tmp_path / "sweeps").mkdir()
    sweep = tmp_path / "sweeps" / "s.yaml"
    sweep.write_text("base: ../base.yaml\ngrid: {forecaster.horizon: [5, 21]}\n")
    monkeypatch.chdir(EXPERIMENTS)  # anywhere but the sweep's folder
    spec = load_grid(sweep)
    assert spec.name == "mine_sweep"
    assert spec.base["optimizer"]["risk_aversion"] == 3.0
    assert spec.strategy == "lstm_mvo"  # the default when every point runs it


@pytest.mark.parametrize(
    "key",
    [
        "optimizer.risk_aversionx",
        "forecaster.model.hiden",
        "optimizer.constraints.maxweight",
        "optimizer.risk_aversion.gamma",
        "portfolio.risk_aversion",
    ],
)
def test_unknown_dotted_key_is_named(key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        spec_from_dict(with_grid({key: [1, 2]}))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (with_grid({"optimizer.risk_aversion": [1, -1]}), "optimizer.risk_aversion"),
        (with_grid({"optimizer.risk_aversion": 2}), "non-empty list"),
        (with_grid({"optimizer.risk_aversion": []}), "non-empty list"),
        (with_grid({}), "at least one key"),
        (with_grid({"optimizer.risk_aversion": [2, 2]}), "listed twice"),
        (with_grid({"name": ["a", "b"]}), "names each point"),
        (
            with_grid({"optimizer": [{}], "optimizer.risk_aversion": [1]}),
            "overlaps",
        ),
        (
            with_grid(
                {"optimizer.risk_aversion": [1]}, set={"optimizer.risk_aversion": 2}
            ),
            "overlaps",
        ),
        (with_grid({"optimizer.risk_aversion": [1]}, metric="luck"), "metric"),
        (with_grid({"optimizer.risk_aversion": [1]}, strategy="lstm_mvo"), "strategy"),
        (with_grid({"optimizer.risk_aversion": [1]}, strategy="index"), "strategy"),
        (with_grid({"optimizer.risk_aversion": [1]}, seed=3), "seed: unknown"),
        (
            with_grid({"optimizer.risk_aversion": [1]}, base={"optimiser": {}}),
            "base.optimiser",
        ),
        ({"base": "missing.yaml", "grid": {"forecaster.horizon": [5]}}, "not found"),
    ],
)
def test_bad_sweeps_are_refused_with_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(values, root=EXPERIMENTS)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: {}\ngrid: {optimizer.risk_aversionx: [1, 2]}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: .*optimizer\.risk_aversionx"):
        load_grid(path)


def test_points_are_the_cartesian_product_in_file_order():
    spec = spec_from_dict(
        with_grid(
            {"optimizer.risk_aversion": [2, 10], "forecaster.model.hidden": [16, 32, 8]}
        )
    )
    points = grid_points(spec)
    assert [name for name, _ in points] == [
        "p000_risk_aversion=2_hidden=16",
        "p001_risk_aversion=2_hidden=32",
        "p002_risk_aversion=2_hidden=8",
        "p003_risk_aversion=10_hidden=16",
        "p004_risk_aversion=10_hidden=32",
        "p005_risk_aversion=10_hidden=8",
    ]
    values = [(c.optimizer.risk_aversion, c.forecaster.model.hidden) for _, c in points]
    assert values == [(2, 16), (2, 32), (2, 8), (10, 16), (10, 32), (10, 8)]
    assert points[4][1].name == "quick_p004_risk_aversion=10_hidden=32"
    # Everything not swept is the base config.
    assert {c.backtest.end for _, c in points} == {"2018-12-31"}
    assert [n for n, _ in grid_points(spec)] == [n for n, _ in points]


def test_point_names_stay_short_and_folder_safe():
    spec = spec_from_dict(
        with_grid(
            {
                "strategies": [["equal_weight", "min_variance"], ["min_variance"]],
                "backtest.start": ["2016-01-01"],
            }
        )
    )
    names = [name for name, _ in grid_points(spec)]
    assert names == [
        "p000_strategies=equal_weight+min_variance_start=2016-01-01",
        "p001_strategies=min_variance_start=2016-01-01",
    ]
    assert _labels(["a.x", "b.x", "c.y"]) == ["a.x", "b.x", "y"]


def test_set_applies_to_every_point_and_the_spec_round_trips():
    spec = spec_from_dict(
        with_grid(
            {"backtest.cost_bps": [5, 20]},
            set={"optimizer.constraints.max_weight": 0.2},
        )
    )
    assert {c.optimizer.constraints["max_weight"] for _, c in grid_points(spec)} == {
        0.2
    }
    again = spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
    assert again == spec


def test_points_can_be_listed_one_by_one():
    listed = [
        {"forecaster.kind": "historical"},
        {"forecaster.kind": "ewma", "optimizer.risk_aversion": 2},
    ]
    spec = spec_from_dict(with_grid(listed))
    assert spec.size == 2 and spec.grid == ()
    assert spec.keys == ("forecaster.kind", "optimizer.risk_aversion")
    points = grid_points(spec)
    assert [name for name, _ in points] == [
        "p000_kind=historical",
        "p001_kind=ewma_risk_aversion=2",
    ]
    first, second = (config for _, config in points)
    assert (first.forecaster.kind, first.optimizer.risk_aversion) == ("historical", 5)
    assert (second.forecaster.kind, second.optimizer.risk_aversion) == ("ewma", 2)
    again = spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())))
    assert again == spec
    assert "forecaster.kind, optimizer.risk_aversion" in leaderboard_html(
        spec, pd.DataFrame({"point": [], "status": []})
    )


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ([], "grid: give at least one point"),
        ([{"forecaster.kind": "ewma"}, {"forecaster.kind": "ewma"}], "listed twice"),
        ([{}], r"grid\[0\]: give at least one"),
        (["ewma"], r"grid\[0\]: expected a mapping"),
        ([{"forecaster.knd": "ewma"}], r"grid\[0\].forecaster.knd: unknown key"),
        ([{"forecaster.kind": "lstmx"}], "grid point p000_kind=lstmx"),
        (
            [{"forecaster": {"kind": "ewma"}, "forecaster.horizon": 5}],
            "overlaps",
        ),
    ],
)
def test_bad_listed_points_are_refused_with_the_point(grid, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(with_grid(grid))


# --------------------------------------------------------------- leaderboard


def test_rank_orders_by_metric_and_puts_failures_last():
    board = pd.DataFrame(
        {
            "point": ["p0", "p1", "p2", "p3"],
            "status": ["ok", "failed", "ok", "ok"],
            "sharpe": [0.5, np.nan, 1.2, np.nan],
            "turnover": [2.0, np.nan, 3.0, 1.0],
        }
    )
    by_sharpe = _rank(board, "sharpe")
    assert list(by_sharpe.point) == ["p2", "p0", "p3", "p1"]
    assert list(by_sharpe["rank"].astype(object)) == [1, 2, 3, pd.NA]
    by_turnover = _rank(board, "turnover")  # lower is better
    assert list(by_turnover.point) == ["p3", "p0", "p2", "p1"]


def test_leaderboard_html_escapes_everything():
    spec = spec_from_dict(with_grid({"backtest.cost_bps": [5, 20]}, name="<b>s&p"))
    board = pd.DataFrame(
        {
            "rank": pd.array([1, pd.NA], dtype="Int64"),
            "point": ["p000_cost_bps=5", "p001_cost_bps=20"],
            "status": ["ok", "failed"],
            "sharpe": [0.8, np.nan],
            "error": ["", "DataError: <script>alert(1)</script>"],
        }
    )
    page = leaderboard_html(spec, board)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;s&amp;p" in page
    assert "http" not in page  # self-contained: nothing to fetch


# --------------------------------------------------------------- running


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The quick sweep run in two local processes."""
    out = tmp_path_factory.mktemp("local") / "sweep"
    start = time.perf_counter()
    board = run_sweep(load_grid(QUICK), out, workers=2, quiet=True)
    return board, out, time.perf_counter() - start


def test_local_sweep_writes_the_leaderboard_and_run_folders(local_sweep):
    board, out, _ = local_sweep
    assert list(board.status) == ["ok", "ok"]
    assert list(board["rank"]) == [1, 2]
    assert board.sharpe.is_monotonic_decreasing
    saved = pd.read_csv(out / "leaderboard.csv")
    assert list(saved.point) == list(board.point)
    np.testing.assert_allclose(saved.sharpe, board.sharpe, rtol=1e-9)
    assert "optimizer.constraints.max_weight" in saved.columns
    page = (out / "leaderboard.html").read_text()
    assert all(name in page for name in board.point)
    assert load_grid(out / "sweep.yaml") == load_grid(QUICK)
    for name, sharpe in zip(board.point, board.sharpe, strict=True):
        run = load_run(out / "points" / name)
        assert run.metrics["strategies"]["min_variance"]["sharpe"] == sharpe
        assert json.loads((out / "points" / name / "point.json").read_text())[
            "status"
        ] == ("ok")
    # Written through a staging folder: nothing half-written is left beside it.
    assert [p.name for p in out.parent.iterdir()] == ["sweep"]


def test_leaderboard_dsr_deflates_over_the_points(local_sweep):
    board, out, _ = local_sweep
    variance = float(np.var(board.sharpe, ddof=1))
    for name, dsr, psr in zip(board.point, board.dsr, board.psr, strict=True):
        folder = out / "points" / name
        returns = pd.read_csv(
            folder / "returns.csv", index_col="date", parse_dates=True
        )
        rf = pd.read_csv(folder / "risk_free.csv", index_col="date", parse_dates=True)
        expected = deflated_sharpe_ratio(
            returns["min_variance"], n_trials=2, sharpe_variance=variance, rf=rf["rf"]
        )
        assert dsr == pytest.approx(expected, rel=1e-9)
        assert dsr < psr  # selection among two points costs confidence


def test_existing_sweep_folder_is_kept_without_force(local_sweep):
    _, out, _ = local_sweep
    before = (out / "leaderboard.csv").read_bytes()
    args = sweep_parser().parse_args(["sweep", str(QUICK), "--out", str(out)])
    with pytest.raises(RunExistsError, match="--force"):
        args.handler(args)
    assert (out / "leaderboard.csv").read_bytes() == before


def test_handler_refuses_a_bad_grid_before_running(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("grid: {forecaster.model.hiden: [8, 16]}\n")
    args = sweep_parser().parse_args(["sweep", str(path), "--out", str(tmp_path / "o")])
    with pytest.raises(ConfigError, match=r"forecaster\.model\.hiden"):
        args.handler(args)
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------- Ray


def import_ray():
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("Ray must be installed in CI (the distributed extra)")
        pytest.skip("ray is not installed")
    return ray


@pytest.fixture(scope="module")
def ray_address():
    """A two-CPU Ray cluster owned by this test process, shut down afterwards."""
    ray = import_ray()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=100 * 2**20,
        logging_level="ERROR",
        log_to_driver=False,
    )
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def sweep_parser() -> argparse.ArgumentParser:
    from foliocast.portfolio.cli import build_parser

    return build_parser()


def cli_command() -> list[str]:
    # The Ray tests run the command in a new process: Ray's client connection and
    # its environment (RAY_ADDRESS) are process-wide state the suite must not keep.
    return [sys.executable, "-m", "foliocast"]


def test_cli_sweep_on_ray_records_a_failed_point(ray_address, local_sweep, tmp_path):
    # Point p000 is the local sweep's best point; p001 asks for more history than
    # the data holds, which only running it can find out.
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            with_grid(
                {"backtest.min_history_days": [252, 10_000]},
                set={"optimizer.constraints.max_weight": 0.15},
            )
        )
    )
    out = tmp_path / "ray_sweep"
    start = time.perf_counter()
    result = subprocess.run(
        [*cli_command(), "sweep", str(grid), "--out", str(out), "--ray", ray_address],
        capture_output=True,
        text=True,
        timeout=180,
    )
    print(f"two-point Ray sweep via the CLI: {time.perf_counter() - start:.1f} s")
    assert result.returncode == 0, result.stderr
    assert "1 of 2 points failed" in result.stderr
    assert "Traceback" not in result.stderr
    board = pd.read_csv(out / "leaderboard.csv")
    assert list(board.status) == ["ok", "failed"]
    failed = board.iloc[1]
    assert failed.point == "p001_min_history_days=10000"
    assert "DataError" in failed.error and np.isnan(failed.sharpe)
    assert (out / "points" / failed.point / "error.txt").is_file()
    assert not (out / "points" / failed.point / "metrics.json").exists()
    # Same config, same numbers, whichever machine ran it.
    local_board = local_sweep[0].set_index("point")
    assert board.sharpe.iloc[0] == local_board.sharpe["p000_max_weight=0.15"]
    # One finished point: no spread of Sharpe ratios, so nothing to deflate by.
    assert board.dsr.iloc[0] == pytest.approx(board.psr.iloc[0], rel=1e-12)


def test_sweep_with_every_point_failed_leaves_no_folder(ray_address, tmp_path):
    spec = spec_from_dict(with_grid({"backtest.min_history_days": [9000, 10_000]}))
    out = tmp_path / "doomed"
    with pytest.raises(SweepError, match="every point.*DataError"):
        run_sweep(spec, out, ray_address=ray_address, quiet=True)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------ Ray connection failures


def closed_port() -> int:
    """A TCP port nobody listens on (bound, then closed again)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_unconnected(monkeypatch):
    """Ray as if this process had never connected (another test may have)."""
    ray = import_ray()
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.delenv("RAY_gcs_server_port_wait_time_s", raising=False)
    return ray


def test_dead_ray_address_fails_fast_with_one_line(
    ray_unconnected, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed_port()}")
    out = tmp_path / "never"
    args = sweep_parser().parse_args(
        ["sweep", str(QUICK), "--out", str(out), "--ray", "auto"]
    )
    start = time.perf_counter()
    code = args.handler(args)
    assert time.perf_counter() - start < 10
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "RAY_ADDRESS=127.0.0.1:" in lines[0]
    assert "no Ray cluster answers" in lines[0] and "refused" in lines[0]
    assert "--address" not in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_no_ray_cluster_message_names_what_exists(ray_unconnected, monkeypatch):
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: frozenset())
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    with pytest.raises(RayConnectError) as caught, ray_session("auto", quiet=True):
        pass
    message = str(caught.value)
    assert "no running Ray cluster found" in message
    assert "--ray HOST:PORT" in message and "RAY_ADDRESS=HOST:PORT" in message
    assert "--address" not in message


@pytest.fixture
def listening_port():
    """A port that accepts TCP connections but is no Ray cluster."""
    import socket

    with socket.socket() as server:
        server.bind(("0.0.0.0", 0))
        server.listen(8)
        yield server.getsockname()[1]


def failing_init(ray, monkeypatch, innermost: str):
    """Make ray.init fail as Ray does, after spamming the C++ log on fd 2."""
    seen = {}

    def init(**kwargs):
        seen["attempts"] = os.environ.get("RAY_gcs_server_port_wait_time_s")
        os.write(2, b"[W rpc_client.h:153] Failed to connect to GCS (spam)\n")
        try:
            raise RuntimeError(f"Failed to connect to GCS. Traceback:\n{innermost}\n")
        except RuntimeError as cause:
            raise ConnectionError("Failed to connect to Ray cluster") from cause

    monkeypatch.setattr(ray, "init", init)
    return seen


def test_ray_token_mismatch_is_one_line_without_log_spam(
    ray_unconnected, monkeypatch, listening_port, capfd
):
    seen = failing_init(
        ray_unconnected,
        monkeypatch,
        "ray.exceptions.AuthenticationError: Authentication failed: token mismatch",
    )
    start = time.perf_counter()
    with pytest.raises(RayConnectError) as caught:
        with ray_session(f"127.0.0.1:{listening_port}", quiet=True):
            pass
    assert time.perf_counter() - start < 10
    message = str(caught.value)
    assert "authentication token" in message and "RAY_AUTH_TOKEN" in message
    assert "\n" not in message
    assert "spam" not in capfd.readouterr().err  # Ray's own lines held back
    # Ray's attempts were capped while connecting, and the cap is gone after.
    assert seen["attempts"] == str(CONNECT_ATTEMPTS)
    assert "RAY_gcs_server_port_wait_time_s" not in os.environ


def test_other_ray_connect_failures_name_the_cause(
    ray_unconnected, monkeypatch, listening_port
):
    failing_init(
        ray_unconnected,
        monkeypatch,
        "ray.exceptions.RpcError: RPC error: Received http2 header with status: 404",
    )
    with pytest.raises(RayConnectError) as caught:
        with ray_session(f"127.0.0.1:{listening_port}", quiet=True):
            pass
    message = str(caught.value)
    assert "RpcError: RPC error: Received http2 header with status: 404" in message
    assert "same Ray version" in message and "\n" not in message


def test_cli_sweep_with_a_dead_ray_address_exits_2(tmp_path):
    import_ray()
    environment = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{closed_port()}"}
    result = subprocess.run(
        [*cli_command(), "sweep", str(QUICK), "--out", str(tmp_path / "o")]
        + ["--ray", "auto"],
        capture_output=True,
        text=True,
        timeout=150,  # Ray alone would retry for about 12 minutes
        env=environment,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no Ray cluster answers" in lines[0], result.stderr


def test_sweep_spec_is_a_value():
    spec = load_grid(QUICK)
    assert isinstance(spec, SweepSpec)
    with pytest.raises(AttributeError):
        spec.metric = "psr"
