"""Training-step speed of our LSTM encoder against ``torch.nn.LSTM``, same machine.

One training step = forward over a (batch, seq_len, features) float32 batch, a linear
head on the last hidden state, MSE loss, backward, Adam update; the same for JAX (our
encoder, each implementation) and PyTorch (``nn.LSTM`` with the same layers, hidden
size, sequence length and batch). Both are timed in one run, each framework in its
own process, in interleaved rounds so that load from other processes hits both alike;
the reported rate is the median over rounds. PyTorch is timed with its default thread
count and with one thread, and the faster setting is the reference.

Both sides use every core the way their framework does: PyTorch splits each matrix
product over its intra-op threads; our encoder splits the batch over one JAX device
per core (``forecasting.devices``), exactly as ``LSTMForecaster`` trains. The fused
kernel on one device is timed too, so the JSON shows what the kernel and the split
each contribute.

GFLOP/s use one analytic count for both frameworks: a forward LSTM step costs
``2 * 4H * (F + H)`` flops per sequence per layer-step (the two matrix products;
elementwise work ignored) and a training step is counted as 3x the forward.

Optionally (default on) it also times ``LSTMForecaster.fit`` with the default
configuration on the bundled 20-stock S&P 500 sample with a 1260-day lookback: a cold
fit, then warm-started refits one year apart, as in the default backtest.

Usage::

    python benchmarks/bench_lstm.py [--out benchmarks/results/lstm.json] [--no-fit]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecasting.devices import batch_mesh  # noqa: E402
from forecasting.features import feature_names  # noqa: E402
from forecasting.model import LSTMEncoder  # noqa: E402

# Variant name -> (LSTMEncoder impl, split the batch over the devices).
IMPLS = {
    "fused": ("fused", True),
    "fused_one_device": ("fused", False),
    "hoisted": ("hoisted", False),
    "cell": ("cell", False),
}
DEFAULT_IMPL = "fused"


class _Regressor(nnx.Module):
    def __init__(self, features: int, hidden: int, layers: int, variant: str) -> None:
        rngs = nnx.Rngs(0)
        impl, parallel = IMPLS[variant]
        self.encoder = LSTMEncoder(
            features, hidden, layers, impl=impl, parallel=parallel, rngs=rngs
        )
        self.head = nnx.Linear(hidden, 1, rngs=rngs)

    def __call__(self, inputs: jax.Array) -> jax.Array:
        return self.head(self.encoder(inputs))[:, 0]


def _jax_stepper(variant: str, x: np.ndarray, y: np.ndarray, hidden: int, layers: int):
    model = _Regressor(x.shape[-1], hidden, layers, variant)
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    inputs, targets = jnp.asarray(x), jnp.asarray(y)
    # The step form of forecasting.train: a pure function of the split state under
    # jax.jit, so no per-call Python walk of the model graph.
    graphdef, state = nnx.split((model, optimizer))

    @jax.jit
    def step(state, inputs, targets):
        model, optimizer = nnx.merge(graphdef, state)

        def loss_fn(model):
            return jnp.mean((model(inputs) - targets) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), loss

    def run(n: int) -> None:
        nonlocal state
        for _ in range(n):
            state, loss = step(state, inputs, targets)
        loss.block_until_ready()

    return run


def _torch_stepper(
    x: np.ndarray, y: np.ndarray, hidden: int, layers: int, threads: int
):
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(x.shape[-1], hidden, layers, batch_first=True)
    head = torch.nn.Linear(hidden, 1)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def run(n: int) -> None:
        torch.set_num_threads(threads)
        for _ in range(n):
            optimizer.zero_grad()
            _, (h_n, _) = lstm(inputs)
            loss = ((head(h_n[-1])[:, 0] - targets) ** 2).mean()
            loss.backward()
            optimizer.step()

    return run


def _time(run, steps: int) -> float:
    started = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - started)


def _worker(connection, framework: str, shapes: dict) -> None:
    """Child process: build the steppers of one framework, time them on request."""
    rng = np.random.default_rng(42)
    x = rng.normal(size=(shapes["batch"], shapes["seq_len"], shapes["features"]))
    x = x.astype(np.float32)
    y = rng.normal(size=shapes["batch"]).astype(np.float32)
    hidden, layers = shapes["hidden"], shapes["layers"]
    if framework == "torch":
        import torch

        # PyTorch's OpenMP pool stalls badly when another process holds one of the
        # cores, so it is timed both with its default thread count and with one
        # thread; the faster of the two is the reference.
        counts = sorted({torch.get_num_threads(), 1}, reverse=True)
        runners = {
            f"torch_{n}_threads": _torch_stepper(x, y, hidden, layers, n)
            for n in counts
        }
    else:
        runners = {
            f"jax_{impl}": _jax_stepper(impl, x, y, hidden, layers) for impl in IMPLS
        }
    for run in runners.values():  # compile / warm up
        run(3)
    connection.send(list(runners))
    while (request := connection.recv()) is not None:
        name, steps = request
        connection.send(_time(runners[name], steps))


def bench_steps(shapes: dict, steps: int, rounds: int) -> dict:
    """Median training steps/s of each implementation over interleaved rounds.

    Each framework lives in its own process, and only one process computes at a
    time: thread pools that spin after a step (OpenMP in PyTorch, Eigen in XLA) would
    otherwise steal the cores from the other framework and distort both numbers.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    workers = {}
    for framework in ("jax", "torch"):
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, framework, shapes))
        process.start()
        workers[framework] = (parent, process, parent.recv())
    rates: dict[str, list[float]] = {
        name: [] for _, _, names in workers.values() for name in names
    }
    try:
        for _ in range(rounds):
            for parent, _, names in workers.values():
                for name in names:
                    time.sleep(0.3)  # let the other side's spinning threads park
                    parent.send((name, steps))
                    rates[name].append(parent.recv())
    finally:
        for parent, process, _ in workers.values():
            parent.send(None)
            process.join()
    median = {name: statistics.median(values) for name, values in rates.items()}

    batch, seq_len = shapes["batch"], shapes["seq_len"]
    features, hidden, layers = shapes["features"], shapes["hidden"], shapes["layers"]
    first = 2 * 4 * hidden * (features + hidden)
    deeper = 2 * 4 * hidden * (2 * hidden)  # deeper layers read the hidden state
    flops_per_step = 3 * batch * seq_len * (first + (layers - 1) * deeper)
    torch_runs = {name: rate for name, rate in median.items() if "torch" in name}
    torch_best = max(torch_runs, key=torch_runs.get)
    jax_rate, torch_rate = median[f"jax_{DEFAULT_IMPL}"], torch_runs[torch_best]
    return {
        "jax_steps_per_s": jax_rate,
        "torch_steps_per_s": torch_rate,
        "ratio": jax_rate / torch_rate,
        "gflops_jax": flops_per_step * jax_rate / 1e9,
        "gflops_torch": flops_per_step * torch_rate / 1e9,
        "jax_impl": DEFAULT_IMPL,
        "variants_steps_per_s": {name: median[f"jax_{name}"] for name in IMPLS},
        "jax_devices": jax.device_count(),
        "jax_batch_shards": _shards(shapes["batch"]),
        "rounds_steps_per_s": rates,
        "shapes": {**shapes, "dtype": "float32"},
        "steps_per_round": steps,
        "flops_per_step": flops_per_step,
        "flop_model": "3 x forward; forward = 2*4H*(F+H) per sequence-step per layer",
        "torch_variants_steps_per_s": torch_runs,
        "torch_reference": torch_best,
    }


def _shards(batch: int) -> int:
    mesh = batch_mesh(batch)
    return 1 if mesh is None else mesh.devices.size


def bench_fit(refits: int) -> dict:
    from skfolio.datasets import load_sp500_dataset

    from forecasting.lstm import LSTMForecaster

    prices = load_sp500_dataset()
    forecaster = LSTMForecaster(lookback_days=1260)
    fits = []
    first_end = 1260 + 400
    for k in range(refits + 1):
        end = first_end + 252 * k
        window = prices.iloc[:end]
        started = time.perf_counter()
        forecaster.fit(window)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        forecaster.predict(window)
        fits.append(
            {
                "fit_date": str(window.index[-1].date()),
                "warm": k > 0,
                "seconds": seconds,
                "predict_seconds": time.perf_counter() - started,
                "epochs": forecaster.history_.epochs_run,
                "best_epoch": forecaster.history_.best_epoch,
            }
        )
    warm = [f["seconds"] for f in fits if f["warm"]]
    return {
        "n_assets": prices.shape[1],
        "lookback_days": 1260,
        "config": forecaster.get_params(),
        "fits": fits,
        "cold_fit_seconds": fits[0]["seconds"],
        "warm_fit_seconds_median": statistics.median(warm) if warm else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/lstm.json"))
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=63)
    parser.add_argument("--features", type=int, default=len(feature_names()))
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--refits", type=int, default=3)
    parser.add_argument("--no-fit", action="store_true", help="skip the fit timing")
    args = parser.parse_args(argv)

    result = {
        "benchmark": "lstm_training_step",
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "load_average_before": os.getloadavg(),
            "jax": jax.__version__,
            "jax_backend": jax.default_backend(),
        },
    }
    shapes = {
        "batch": args.batch,
        "seq_len": args.seq_len,
        "features": args.features,
        "hidden": args.hidden,
        "layers": args.layers,
    }
    result.update(bench_steps(shapes, args.steps, args.rounds))
    import torch

    result["machine"]["torch"] = torch.__version__
    if not args.no_fit:
        result["fit"] = bench_fit(args.refits)
    result["machine"]["load_average_after"] = os.getloadavg()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=out.parent, suffix=".tmp", delete=False
    ) as handle:
        json.dump(result, handle, indent=2)
    os.replace(handle.name, out)
    summary = {k: result[k] for k in ("jax_steps_per_s", "torch_steps_per_s", "ratio")}
    summary["variants"] = result["variants_steps_per_s"]
    summary["torch_variants"] = result["torch_variants_steps_per_s"]
    if "fit" in result:
        summary["cold_fit_s"] = result["fit"]["cold_fit_seconds"]
        summary["warm_fit_s"] = result["fit"]["warm_fit_seconds_median"]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
