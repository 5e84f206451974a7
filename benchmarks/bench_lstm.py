"""Training-step speed of our LSTM and its ensembles against PyTorch, same machine.

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

The ensemble part times the forecaster's own training step: ``FactorLSTM`` with the
default architecture of ``LSTMForecaster`` on one batch of the shape it trains on (12
dates x 20 assets, 63 steps, the default feature count), factor-Gaussian NLL, AdamW
with gradient clipping. One model steps with ``forecasting.train._train_step``; an
ensemble of 5 with ``_ensemble_train_step``, one vmapped step for all members. The
JSON's ``ensemble.jax_cost_ratio`` (single-model rate / ensemble rate) is what it
costs per training step to train 5 members instead of one. PyTorch runs the same
model (``nn.LSTM`` and the same three linear heads, the same NLL through
``torch.distributions.LowRankMultivariateNormal``, AdamW, clipping) once, and 5 of
them stepped one after another in a Python loop, with its default thread count and
with one thread (the faster ensemble is the reference, as above). It also tries
``torch.func.stack_module_state`` + ``vmap``; the JSON records the error where
``nn.LSTM`` has no batching rule. ``--only ensemble`` runs this part alone.

Optionally (default on) it also times ``LSTMForecaster.fit`` with the default
configuration on the bundled 20-stock S&P 500 sample with a 1260-day lookback: a cold
fit, then warm-started refits one year apart, as in the default backtest.

Usage::

    python benchmarks/bench_lstm.py [--out benchmarks/results/lstm.json] [--no-fit]
    python benchmarks/bench_lstm.py --only ensemble --out /tmp/ensemble.json
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

from foliocast.forecasting.devices import batch_mesh, claim_cpu_cores  # noqa: E402
from foliocast.forecasting.ensemble import member_seed, stack_members  # noqa: E402
from foliocast.forecasting.features import feature_names  # noqa: E402
from foliocast.forecasting.lstm import LSTMForecaster  # noqa: E402
from foliocast.forecasting.model import (  # noqa: E402
    IDIO_FLOOR,
    IDIO_SCALE,
    LOADING_SCALE,
    MU_SCALE,
    FactorLSTM,
    LSTMEncoder,
)
from foliocast.forecasting.train import (  # noqa: E402
    CLIP_NORM,
    _ensemble_train_step,
    _optimizer_transform,
    _train_step,
)

# Variant name -> (LSTMEncoder impl, split the batch over the devices).
IMPLS = {
    "fused": ("fused", True),
    "fused_one_device": ("fused", False),
    "hoisted": ("hoisted", False),
    "cell": ("cell", False),
}
DEFAULT_IMPL = "fused"
PARTS = ("encoder", "ensemble", "fit")
MAX_SECONDS = 5.0
"""Time after which one measurement stops early (see ``_time``)."""
ENSEMBLE_TARGET = 2.0
"""Most an ensemble step may cost, in single-model steps (the issue's target)."""


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


def factor_shapes(members: int, assets: int, features: int) -> dict:
    """Shapes and settings of the ensemble part: the forecaster's defaults.

    One batch holds ``batch_size // assets`` dates with all their assets, as in
    ``forecasting.train``.
    """
    defaults = LSTMForecaster().get_params()
    return {
        "members": members,
        "dates": max(1, defaults["batch_size"] // assets),
        "assets": assets,
        "seq_len": defaults["seq_len"],
        "features": features,
        "hidden": defaults["hidden"],
        "layers": defaults["layers"],
        "factors": defaults["factors"],
        "dropout": defaults["dropout"],
        "lr": defaults["lr"],
        "weight_decay": defaults["weight_decay"],
        "clip_norm": CLIP_NORM,
        "loss": defaults["loss"],
    }


def _factor_batch(shapes: dict) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs (dates, assets, seq_len, features) and monthly-sized targets."""
    rng = np.random.default_rng(7)
    size = (shapes["dates"], shapes["assets"], shapes["seq_len"], shapes["features"])
    x = rng.normal(size=size).astype(np.float32)
    y = (0.05 * rng.normal(size=size[:2])).astype(np.float32)
    return x, y


def _jax_factor_stepper(x: np.ndarray, y: np.ndarray, shapes: dict, members: int):
    """The forecaster's training step for one model, or ``members`` stacked ones."""
    models = [
        FactorLSTM(
            shapes["features"],
            hidden=shapes["hidden"],
            layers=shapes["layers"],
            factors=shapes["factors"],
            dropout=shapes["dropout"],
            rngs=nnx.Rngs(member_seed(0, m, members)),
        )
        for m in range(members)
    ]
    model = models[0] if members == 1 else stack_members(models)
    model.train()
    tx = _optimizer_transform(shapes["lr"], shapes["weight_decay"], shapes["clip_norm"])
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))
    # NumPy batches, as train_model passes them: the host-to-device copy is part of
    # a real step.
    mask = np.ones(y.shape, dtype=bool)
    weights = np.ones((members, y.shape[0]), np.float32)
    loss_kind = shapes["loss"]

    def run(n: int) -> None:
        nonlocal state
        for _ in range(n):
            if members == 1:
                state, loss = _train_step(
                    graphdef, state, x, y, mask, weights[0], loss_kind
                )
            else:
                state, loss = _ensemble_train_step(
                    graphdef, state, x, y, mask, weights, loss_kind
                )
        loss.block_until_ready()

    return run


def _torch_factor_nets(shapes: dict, members: int) -> list:
    """PyTorch twins of ``FactorLSTM`` (``nn.LSTM``, dropout, the same three heads).

    One class for all members: ``torch.func.stack_module_state`` requires it.
    """
    import torch

    class FactorNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            hidden = shapes["hidden"]
            self.lstm = torch.nn.LSTM(
                shapes["features"], hidden, shapes["layers"], batch_first=True
            )
            self.dropout = torch.nn.Dropout(shapes["dropout"])
            self.mu = torch.nn.Linear(hidden, 1)
            self.loadings = torch.nn.Linear(hidden, shapes["factors"])
            self.idio = torch.nn.Linear(hidden, 1)

        def forward(self, inputs, targets):
            dates, assets, seq_len, features = inputs.shape
            _, (h_n, _) = self.lstm(inputs.reshape(-1, seq_len, features))
            state = self.dropout(h_n[-1])
            mu = MU_SCALE * self.mu(state)[:, 0]
            loadings = LOADING_SCALE * self.loadings(state)
            raw_idio = torch.nn.functional.softplus(self.idio(state)[:, 0])
            idio = IDIO_SCALE**2 * raw_idio + IDIO_FLOOR
            # The same O(n k^2) Woodbury likelihood as forecasting.loss.
            distribution = torch.distributions.LowRankMultivariateNormal(
                mu.reshape(dates, assets),
                loadings.reshape(dates, assets, -1),
                idio.reshape(dates, assets),
                validate_args=False,
            )
            return -distribution.log_prob(targets).sum() / targets.numel()

    nets = []
    for seed in range(members):
        torch.manual_seed(seed)
        nets.append(FactorNet())
    return nets


def _torch_adamw(parameters, shapes: dict):
    import torch

    return torch.optim.AdamW(
        parameters, lr=shapes["lr"], weight_decay=shapes["weight_decay"]
    )


def _torch_factor_stepper(
    x: np.ndarray, y: np.ndarray, shapes: dict, members: int, threads: int
):
    """``members`` PyTorch models, each stepped in turn (a Python loop)."""
    import torch

    nets = _torch_factor_nets(shapes, members)
    optimizers = [_torch_adamw(net.parameters(), shapes) for net in nets]
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def run(n: int) -> None:
        torch.set_num_threads(threads)
        for _ in range(n):
            for net, optimizer in zip(nets, optimizers, strict=True):
                optimizer.zero_grad()
                net(inputs, targets).backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), shapes["clip_norm"])
                optimizer.step()

    return run


def _torch_factor_vmap_stepper(
    x: np.ndarray, y: np.ndarray, shapes: dict, members: int, threads: int
):
    """``members`` PyTorch models stacked with ``torch.func`` and stepped by vmap.

    No gradient clipping: a clip over the stacked parameters would couple the
    members. It fails on its first call where ``nn.LSTM`` has no batching rule.
    """
    import copy

    import torch
    from torch.func import functional_call, stack_module_state, vmap

    nets = _torch_factor_nets(shapes, members)
    params, buffers = stack_module_state(nets)
    template = copy.deepcopy(nets[0]).to("meta")

    def member_loss(params, buffers, inputs, targets):
        return functional_call(template, (params, buffers), (inputs, targets))

    losses = vmap(member_loss, in_dims=(0, 0, None, None), randomness="different")
    optimizer = _torch_adamw(list(params.values()), shapes)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)

    def run(n: int) -> None:
        torch.set_num_threads(threads)
        for _ in range(n):
            optimizer.zero_grad()
            losses(params, buffers, inputs, targets).sum().backward()
            optimizer.step()

    return run


def _time(run, steps: int) -> float:
    """Steps per second over ``steps`` steps, fewer once ``MAX_SECONDS`` have passed.

    The cap bounds a round when a run stalls under load (PyTorch's thread pool, with
    another process on one of the cores, can fall to a step every few seconds).
    Steps run in chunks of a fifth, so the cap costs one sync per chunk.
    """
    chunk = max(1, steps // 5)
    done = 0
    started = time.perf_counter()
    while done < steps and time.perf_counter() - started < MAX_SECONDS:
        count = min(chunk, steps - done)
        run(count)
        done += count
    return done / (time.perf_counter() - started)


def _runners(framework: str, parts: tuple[str, ...], shapes: dict, ensemble: dict):
    """Name -> (part, stepper) of one framework's runs; name -> error of failures."""
    runners, failed = {}, {}
    if "encoder" in parts:
        rng = np.random.default_rng(42)
        x = rng.normal(size=(shapes["batch"], shapes["seq_len"], shapes["features"]))
        x = x.astype(np.float32)
        y = rng.normal(size=shapes["batch"]).astype(np.float32)
        hidden, layers = shapes["hidden"], shapes["layers"]
        if framework == "torch":
            import torch

            # PyTorch's OpenMP pool stalls badly when another process holds one of
            # the cores, so it is timed both with its default thread count and with
            # one thread; the faster of the two is the reference.
            counts = sorted({torch.get_num_threads(), 1}, reverse=True)
            for n in counts:
                runners[f"torch_{n}_threads"] = (
                    "encoder",
                    _torch_stepper(x, y, hidden, layers, n),
                )
        else:
            for impl in IMPLS:
                runners[f"jax_{impl}"] = (
                    "encoder",
                    _jax_stepper(impl, x, y, hidden, layers),
                )
    if "ensemble" in parts:
        x, y = _factor_batch(ensemble)
        members = ensemble["members"]
        if framework == "torch":
            # As for the encoder: the default thread count is what a user gets, one
            # thread the way out when another process holds a core.
            default = ensemble["torch_threads"]
            for n in sorted({default, 1}, reverse=True):
                runners[f"torch_factor_single_{n}_threads"] = (
                    "ensemble",
                    _torch_factor_stepper(x, y, ensemble, 1, n),
                )
                runners[f"torch_factor_loop_{n}_threads"] = (
                    "ensemble",
                    _torch_factor_stepper(x, y, ensemble, members, n),
                )
            try:
                run = _torch_factor_vmap_stepper(x, y, ensemble, members, default)
                run(1)
                runners["torch_factor_vmap"] = ("ensemble", run)
            except RuntimeError as error:  # no batching rule for nn.LSTM
                failed["torch_factor_vmap"] = str(error).splitlines()[0]
        else:
            runners["jax_factor_single"] = (
                "ensemble",
                _jax_factor_stepper(x, y, ensemble, 1),
            )
            runners["jax_factor_ensemble"] = (
                "ensemble",
                _jax_factor_stepper(x, y, ensemble, members),
            )
    return runners, failed


def _worker(connection, framework: str, parts: tuple, shapes: dict, ensemble: dict):
    """Child process: build the steppers of one framework, time them on request."""
    if framework == "torch":
        import torch

        # Read before any stepper sets its own count.
        ensemble = {**ensemble, "torch_threads": torch.get_num_threads()}
    runners, failed = _runners(framework, parts, shapes, ensemble)
    # Warm up; JAX compiles the step twice (the first step's output state is laid
    # out over the devices, unlike the fresh state it started from).
    for _, run in runners.values():
        run(3 if framework == "jax" else 1)
    connection.send(({name: part for name, (part, _) in runners.items()}, failed))
    while (request := connection.recv()) is not None:
        name, steps = request
        connection.send(_time(runners[name][1], steps))


def bench_rates(
    parts: tuple[str, ...], shapes: dict, ensemble: dict, steps: dict, rounds: int
) -> tuple[dict, dict]:
    """Training steps/s of every run in every round, and the runs that failed.

    Each framework lives in its own process, and only one process computes at a
    time: thread pools that spin after a step (OpenMP in PyTorch, Eigen in XLA) would
    otherwise steal the cores from the other framework and distort both numbers.
    ``steps`` gives the steps per round of each part.
    """
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    started = {}
    for framework in ("jax", "torch"):
        parent, child = context.Pipe()
        process = context.Process(
            target=_worker, args=(child, framework, parts, shapes, ensemble)
        )
        process.start()
        started[framework] = (parent, process)
    # Both build and compile at once; timing starts only when both are ready.
    workers = {}
    failed: dict[str, str] = {}
    for framework, (parent, process) in started.items():
        names, framework_failed = parent.recv()
        workers[framework] = (parent, process, names)
        failed.update(framework_failed)
    rates: dict[str, list[float]] = {
        name: [] for _, _, names in workers.values() for name in names
    }
    try:
        for _ in range(rounds):
            for parent, _, names in workers.values():
                for name, part in names.items():
                    time.sleep(0.3)  # let the other side's spinning threads park
                    parent.send((name, steps[part]))
                    rates[name].append(parent.recv())
    finally:
        for parent, process, _ in workers.values():
            parent.send(None)
            process.join()
    return rates, failed


def _lstm_flops(sequences: int, shapes: dict) -> int:
    """Analytic flops of one training step of the LSTM over ``sequences`` sequences."""
    features, hidden, layers = shapes["features"], shapes["hidden"], shapes["layers"]
    first = 2 * 4 * hidden * (features + hidden)
    deeper = 2 * 4 * hidden * (2 * hidden)  # deeper layers read the hidden state
    return 3 * sequences * shapes["seq_len"] * (first + (layers - 1) * deeper)


def summarize_encoder(rates: dict, shapes: dict, steps: int) -> dict:
    """The encoder part: our LSTM encoder against ``torch.nn.LSTM``."""
    # The encoder's runs; the ensemble part's are named *_factor_*.
    median = {
        name: statistics.median(values)
        for name, values in rates.items()
        if "_factor_" not in name
    }
    flops_per_step = _lstm_flops(shapes["batch"], shapes)
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
        "rounds_steps_per_s": {name: rates[name] for name in median},
        "shapes": {**shapes, "dtype": "float32"},
        "steps_per_round": steps,
        "flops_per_step": flops_per_step,
        "flop_model": "3 x forward; forward = 2*4H*(F+H) per sequence-step per layer",
        "torch_variants_steps_per_s": torch_runs,
        "torch_reference": torch_best,
    }


def summarize_ensemble(
    rates: dict, failed: dict, shapes: dict, steps: int, torch_threads: int
) -> dict:
    """The ensemble part: what K members cost per step against one, JAX and torch.

    The torch reference is the thread count whose Python-loop ensemble was faster
    (the default count on a quiet machine); its single model runs with the same
    count.
    """
    names = [name for name in rates if "_factor_" in name]
    median = {name: statistics.median(rates[name]) for name in names}
    jax_single = median["jax_factor_single"]
    jax_ensemble = median["jax_factor_ensemble"]
    counts = [
        int(name.split("_")[-2])
        for name in names
        if name.startswith("torch_factor_loop")
    ]
    threads = max(counts, key=lambda n: median[f"torch_factor_loop_{n}_threads"])
    torch_single = median[f"torch_factor_single_{threads}_threads"]
    torch_loop = median[f"torch_factor_loop_{threads}_threads"]
    jax_ratio = jax_single / jax_ensemble
    # LSTM products only, per member (heads, loss and optimizer ignored).
    flops = _lstm_flops(shapes["dates"] * shapes["assets"], shapes)
    members = shapes["members"]
    vmap = (
        {"steps_per_s": median["torch_factor_vmap"]}
        if "torch_factor_vmap" in median
        else {"error": failed.get("torch_factor_vmap")}
    )
    return {
        "members": members,
        "jax_single_steps_per_s": jax_single,
        "jax_ensemble_steps_per_s": jax_ensemble,
        "jax_cost_ratio": jax_ratio,
        "target_cost_ratio": ENSEMBLE_TARGET,
        "meets_target": jax_ratio <= ENSEMBLE_TARGET,
        "torch_single_steps_per_s": torch_single,
        "torch_ensemble_steps_per_s": torch_loop,
        "torch_cost_ratio": torch_single / torch_loop,
        "torch_ensemble": "Python loop over the members",
        "torch_threads": threads,
        "torch_default_threads": torch_threads,
        "torch_vmap": vmap,
        "jax_vs_torch_single": jax_single / torch_single,
        "jax_vs_torch_ensemble": jax_ensemble / torch_loop,
        "loss": "factor-Gaussian NLL (Woodbury), AdamW, global-norm clipping",
        "jax_devices": jax.device_count(),
        "flops_per_member_step": flops,
        "gflops_jax_single": flops * jax_single / 1e9,
        "gflops_jax_ensemble": members * flops * jax_ensemble / 1e9,
        "gflops_torch_single": flops * torch_single / 1e9,
        "gflops_torch_ensemble": members * flops * torch_loop / 1e9,
        "steps_per_s": median,
        "rounds_steps_per_s": {name: rates[name] for name in names},
        "shapes": {**shapes, "dtype": "float32"},
        "steps_per_round": steps,
    }


def _shards(batch: int) -> int:
    mesh = batch_mesh(batch)
    return 1 if mesh is None else mesh.devices.size


def bench_fit(refits: int) -> dict:
    from skfolio.datasets import load_sp500_dataset

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
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="run only these parts (default: all)",
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=63)
    parser.add_argument("--features", type=int, default=len(feature_names()))
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument(
        "--members",
        type=int,
        default=LSTMForecaster().model_settings.ensemble,
        help="ensemble size of the ensemble part",
    )
    parser.add_argument(
        "--assets", type=int, default=20, help="assets per date, ensemble part"
    )
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--ensemble-steps", type=int, default=10, help="steps per round, ensemble part"
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--refits", type=int, default=3)
    parser.add_argument("--no-fit", action="store_true", help="skip the fit timing")
    args = parser.parse_args(argv)
    claim_cpu_cores()  # before the first JAX computation, as the command line does
    parts = tuple(part for part in PARTS if part in args.only)
    if args.no_fit:
        parts = tuple(part for part in parts if part != "fit")

    result = {
        "benchmark": "lstm_training_step",
        "parts": list(parts),
        "max_seconds_per_measurement": MAX_SECONDS,
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
    ensemble = factor_shapes(args.members, args.assets, args.features)
    timed = tuple(part for part in parts if part != "fit")
    if timed:
        rates, failed = bench_rates(
            timed,
            shapes,
            ensemble,
            {"encoder": args.steps, "ensemble": args.ensemble_steps},
            args.rounds,
        )
        import torch

        result["machine"]["torch"] = torch.__version__
        if "encoder" in timed:
            result.update(summarize_encoder(rates, shapes, args.steps))
        if "ensemble" in timed:
            result["ensemble"] = summarize_ensemble(
                rates, failed, ensemble, args.ensemble_steps, torch.get_num_threads()
            )
    if "fit" in parts:
        result["fit"] = bench_fit(args.refits)
    result["machine"]["load_average_after"] = os.getloadavg()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=out.parent, suffix=".tmp", delete=False
    ) as handle:
        json.dump(result, handle, indent=2)
    os.replace(handle.name, out)
    print(json.dumps(_summary(result), indent=2))
    return 0


def _summary(result: dict) -> dict:
    """The headline numbers of a result, for the terminal."""
    summary = {}
    if "jax_steps_per_s" in result:
        for key in ("jax_steps_per_s", "torch_steps_per_s", "ratio"):
            summary[key] = result[key]
        summary["variants"] = result["variants_steps_per_s"]
        summary["torch_variants"] = result["torch_variants_steps_per_s"]
    if "ensemble" in result:
        keys = (
            "members",
            "jax_single_steps_per_s",
            "jax_ensemble_steps_per_s",
            "jax_cost_ratio",
            "torch_single_steps_per_s",
            "torch_ensemble_steps_per_s",
            "torch_cost_ratio",
            "jax_vs_torch_ensemble",
        )
        summary["ensemble"] = {key: result["ensemble"][key] for key in keys}
    if "fit" in result:
        summary["cold_fit_s"] = result["fit"]["cold_fit_seconds"]
        summary["warm_fit_s"] = result["fit"]["warm_fit_seconds_median"]
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
