"""``LSTMForecaster``: the factor LSTM behind the shared forecaster interface.

``fit(prices)`` computes causal features, builds purged training and validation
samples from data up to the last row, and trains :class:`~forecasting.model.FactorLSTM`
(warm-started from the previous fit when asked). ``predict(prices)`` feeds the last
``seq_len`` days of every asset to the model and returns a
:class:`~forecasting.forecast.Forecast` with ``cov = B B^T + diag(d)``.

Assets with short or no history at the decision date still get a forecast: their
missing features are imputed at the training mean and the ``history`` feature tells
the model how much data there is, so the forecast falls back towards what the model
learnt for young assets. Assets with no price at all at ``as_of`` (not trading yet)
also get one; it is up to the caller not to trade them.

Training reports nothing itself; pass ``on_epoch`` (a callable given an
:class:`~forecasting.train.EpochEnd` after every epoch, with ``fit_date`` set) to
show progress.

With ``ensemble=K`` (default 5) the forecaster trains K members in one compiled step
(:mod:`forecasting.ensemble`) and predicts their mixture: ``mu`` the mean of the
members' means, ``cov`` the law-of-total-variance mixture in factor form, and
``mu_std`` the spread of the members' means scaled by a factor fitted on the
validation block of each fit (:func:`forecasting.posterior.calibrate_view_scale`),
which lies inside the training window.

With ``loss="mse"`` only ``mu`` is trained (the seed-paper setup) and the covariance
is a k-factor principal-component model of recent daily returns scaled to the horizon.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Literal

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from foliocast.data.fingerprint import prices_fingerprint
from foliocast.forecasting.checkpoint import (
    load_checkpoint_metadata,
    load_checkpoint_weights,
    save_checkpoint,
)
from foliocast.forecasting.dataset import (
    FeatureScaler,
    SampleBlock,
    TrainingData,
    build_training_data,
)
from foliocast.forecasting.devices import claim_cpu_cores
from foliocast.forecasting.ensemble import Mixture, member_seed, mixture, stack_members
from foliocast.forecasting.features import Features, compute_features
from foliocast.forecasting.forecast import Forecast
from foliocast.forecasting.model import (
    IDIO_FLOOR,
    FactorLSTM,
    FactorOutput,
    ModelInputs,
)
from foliocast.forecasting.posterior import calibrate_view_scale
from foliocast.forecasting.prior import prior_at
from foliocast.forecasting.settings import ModelSettings, TrainSettings, split_settings
from foliocast.forecasting.train import (
    EpochCallback,
    EpochEnd,
    TrainResult,
    block_inputs,
    train_model,
)

__all__ = ["LSTMForecaster"]

# Settings of the forecaster itself; the rest are fields of ModelSettings and
# TrainSettings.
_OWN_PARAMETERS = (
    "horizon",
    "lookback_days",
    "warm_start",
    "sample_every",
    "val_fraction",
    "impl",
    "prior_window",
)
# Every hyperparameter in get_params order (the order checkpoints were written in).
_HYPERPARAMETERS = (
    "horizon",
    "seq_len",
    "hidden",
    "layers",
    "factors",
    "dropout",
    "loss",
    "max_epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "patience",
    "seed",
    "lookback_days",
    "warm_start",
    "sample_every",
    "val_fraction",
    "impl",
    "ensemble",
    "bootstrap",
    "covariance",
    "prior_window",
    "mean_target",
    "mu_smoothing",
    "epoch_sequences",
)


class LSTMForecaster:
    """Forecast horizon returns and their factor covariance with a shared LSTM.

    Parameters
    ----------
    horizon : int, default 21
        Trading days the forecast covers (targets are simple returns over it).
    model : ModelSettings, optional
        Architecture: ``hidden``, ``layers``, ``factors``, ``dropout``, ``seq_len``,
        ``ensemble``, ``covariance``, ``mu_smoothing`` (defaults and limits in
        :class:`~forecasting.settings.ModelSettings`).
    train : TrainSettings, optional
        Training: ``max_epochs``, ``batch_size``, ``lr``, ``weight_decay``,
        ``patience``, ``seed``, ``loss``, ``bootstrap``, ``mean_target``,
        ``epoch_sequences`` (see
        :class:`~forecasting.settings.TrainSettings`). With ``mean_target=
        "demeaned"`` the forecast ``mu`` has cross-sectional mean zero; with
        ``loss="mse"`` only ``mu`` is trained.
    lookback_days : int, optional
        Train on sample dates within the last ``lookback_days`` rows only (rolling
        window); default all history (expanding window).
    warm_start : bool, default True
        Start a refit from the previous weights when the architecture matches.
    sample_every : int, default 5
        Keep one sample date every ``sample_every`` days: neighbouring samples share
        almost all their target window, so denser sampling costs time, not information.
    val_fraction : float, default 0.2
        Share of sample dates in the validation block (0 disables early stopping).
    impl : {"fused", "hoisted", "cell"}, default "fused"
        LSTM implementation (see :mod:`forecasting.model`).
    prior_window : int, default 1260
        Daily returns behind the anchored model's prior (the Ledoit-Wolf baseline's
        window in the default run).
    on_epoch : callable, optional
        Called with an :class:`~forecasting.train.EpochEnd` (``fit_date`` set)
        after every training epoch, to show progress. Not a hyperparameter: it
        changes nothing in the fit and is neither compared nor saved.
    **settings
        Single fields of ``model`` or ``train`` by name, overriding them
        (``LSTMForecaster(hidden=32, ensemble=1)``); any other name is a
        ``ValueError``.

    Attributes
    ----------
    model_settings : ModelSettings
    train_settings : TrainSettings
    model_ : FactorLSTM
        For an ensemble, one model whose arrays carry a leading member axis.
    view_scale_ : float
        Factor ``c`` of ``mu_std^2 = c * spread^2`` fitted on the last fit's
        validation block (1.0 for a single model or without validation).
    scaler_ : FeatureScaler
    feature_names_ : list of str
    tickers_ : list of str
        Columns of the prices the model was last fitted on.
    fingerprint_ : str
        sha256 of the training prices.
    fit_date_ : pandas.Timestamp
    history_ : TrainResult
    fit_seconds_ : float
    n_fits_ : int
    """

    # Reads volume when the data has it (``volume_z``); see `forecasting.base`.
    uses_volume: ClassVar[bool] = True

    def __init__(
        self,
        *,
        horizon: int = 21,
        model: ModelSettings | None = None,
        train: TrainSettings | None = None,
        lookback_days: int | None = None,
        warm_start: bool = True,
        sample_every: int = 5,
        val_fraction: float = 0.2,
        impl: Literal["fused", "hoisted", "cell"] = "fused",
        prior_window: int = 1260,
        on_epoch: EpochCallback | None = None,
        **settings: Any,
    ) -> None:
        model_values, train_values, unknown = split_settings(settings)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)} for LSTMForecaster; "
                f"valid: {sorted(_HYPERPARAMETERS)}"
            )
        self.horizon = horizon
        self.model_settings = dataclasses.replace(
            model or ModelSettings(), **model_values
        )
        self.train_settings = dataclasses.replace(
            train or TrainSettings(), **train_values
        )
        self.lookback_days = lookback_days
        self.warm_start = warm_start
        self.sample_every = sample_every
        self.val_fraction = val_fraction
        self.impl = impl
        self.prior_window = prior_window
        self.on_epoch = on_epoch
        self._validate()

    def _validate(self) -> None:
        if int(self.horizon) < 1:
            raise ValueError(f"horizon must be >= 1, got {self.horizon}")
        if self.prior_window < 2:
            raise ValueError(f"prior_window must be >= 2, got {self.prior_window}")
        if self.sample_every < 1:
            raise ValueError(f"sample_every must be >= 1, got {self.sample_every}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.lookback_days is not None and self.lookback_days <= self.horizon:
            raise ValueError(
                f"lookback_days must exceed horizon ({self.horizon}), "
                f"got {self.lookback_days}"
            )

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as a flat dict (scikit-learn style).

        The settings' fields appear by name, so ``LSTMForecaster(**get_params())``
        rebuilds the forecaster (a checkpoint stores this dict).
        """
        values = {
            **dataclasses.asdict(self.model_settings),
            **dataclasses.asdict(self.train_settings),
            **{name: getattr(self, name) for name in _OWN_PARAMETERS},
        }
        return {name: values[name] for name in _HYPERPARAMETERS}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"LSTMForecaster({args})"

    def _new_model(self, n_features: int) -> FactorLSTM:
        """A fresh model, or K fresh members stacked on a leading axis."""
        settings = self.model_settings
        members = [
            FactorLSTM(
                n_features,
                hidden=settings.hidden,
                layers=settings.layers,
                factors=settings.factors,
                dropout=settings.dropout,
                impl=self.impl,
                horizon=self.horizon,
                covariance=settings.covariance,
                rngs=nnx.Rngs(
                    member_seed(self.train_settings.seed, m, settings.ensemble)
                ),
            )
            for m in range(settings.ensemble)
        ]
        return members[0] if settings.ensemble == 1 else stack_members(members)

    def _can_warm_start(self, feature_names: list[str]) -> bool:
        return (
            self.warm_start
            and hasattr(self, "model_")
            and self.feature_names_ == feature_names
            and self._architecture == self._fitted_architecture
        )

    @property
    def _architecture(self) -> dict[str, Any]:
        """What a warm start needs unchanged: the shapes and meaning of the weights."""
        settings = self.model_settings
        return {
            "hidden": settings.hidden,
            "layers": settings.layers,
            "factors": settings.factors,
            "dropout": settings.dropout,
            "impl": self.impl,
            "horizon": self.horizon,
            "ensemble": settings.ensemble,
            "covariance": settings.covariance,
        }

    def fit(
        self, prices: pd.DataFrame, volume: pd.DataFrame | None = None
    ) -> LSTMForecaster:
        """Train on prices up to their last row.

        Parameters
        ----------
        prices : pandas.DataFrame of shape (n_dates, n_assets)
            Daily prices up to the fit date; leading NaNs allowed.
        volume : pandas.DataFrame, optional
            Daily volume aligned with ``prices`` (adds the volume feature; then
            ``predict`` needs volume too).

        Returns
        -------
        LSTMForecaster
            ``self``.

        Raises
        ------
        ValueError
            If there is not enough history for one training sample.
        """
        started = time.perf_counter()
        # The first fit is the first JAX work: one CPU device per core, unless the
        # entry point or the user chose already (then this changes nothing).
        claim_cpu_cores()
        _check_prices(prices)
        features = compute_features(prices, volume)
        data = build_training_data(
            features,
            prices,
            horizon=self.horizon,
            seq_len=self.model_settings.seq_len,
            every=self.sample_every,
            lookback_days=self.lookback_days,
            val_fraction=self.val_fraction,
            prior_window=self._prior_window,
            prior_factors=self.model_settings.factors,
        )
        if self._can_warm_start(features.names):
            model = self.model_
        else:
            model = self._new_model(len(features.names))
        # Dropout draws depend only on the seed and the fit count, not on what the
        # model did before, so a run resumed from a checkpoint trains identically.
        # (An ensemble's stacked keys are split from it, one per member.)
        nnx.reseed(
            model,
            default=self.train_settings.seed + 7919 * getattr(self, "n_fits_", 0),
            policy="match_shape",
        )
        self.history_: TrainResult = train_model(
            model,
            data,
            self.train_settings,
            on_epoch=self._epoch_reporter(pd.Timestamp(prices.index[-1])),
            members=self.model_settings.ensemble,
        )
        self.model_: FactorLSTM = model
        self.scaler_: FeatureScaler = data.scaler
        self.feature_names_: list[str] = features.names
        self.tickers_: list[str] = features.tickers
        self.fingerprint_: str = prices_fingerprint(prices, layout="checkpoint")
        self.fit_date_: pd.Timestamp = pd.Timestamp(prices.index[-1])
        self.n_fits_: int = getattr(self, "n_fits_", 0) + 1
        self._fitted_architecture = self._architecture
        self.view_scale_: float = self._fit_view_scale(data)
        self.fit_seconds_: float = time.perf_counter() - started
        return self

    @property
    def _prior_window(self) -> int | None:
        return (
            self.prior_window if self.model_settings.covariance == "anchored" else None
        )

    def _fit_view_scale(self, data: TrainingData) -> float:
        """Calibrate the ensemble spread on the validation block (inside the window).

        1.0 for a single model, without a validation block, or when the members
        agree exactly on every validation sample.
        """
        block = data.validation
        if self.model_settings.ensemble == 1 or len(block) == 0 or not block.mask.any():
            return 1.0
        out = self._block_outputs(block)
        mu = np.asarray(out.mu, dtype=float)  # (K, n_dates, n_assets)
        variance = np.mean(
            np.sum(np.asarray(out.loadings, dtype=float) ** 2, axis=-1)
            + np.asarray(out.idio, dtype=float),
            axis=0,
        )
        try:
            return calibrate_view_scale(
                block.targets,
                mu.mean(axis=0),
                mu.std(axis=0, ddof=1),
                variance,
                block.mask,
            )
        except ValueError:  # no spread at all: nothing to scale
            return 1.0

    def _block_outputs(self, block: SampleBlock, dates: int = 12) -> FactorOutput:
        """Every member's outputs on every sample of ``block``, eval mode."""
        graphdef, state = self._inference_split()
        parts = []
        for start in range(0, len(block), dates):
            index = np.arange(start, min(start + dates, len(block)))
            count = len(index)
            # One shape, one compilation: pad the last chunk with repeats.
            index = np.concatenate([index, np.full(dates - count, index[-1])])
            out = _ensemble_forward(graphdef, state, block_inputs(block, index))
            parts.append(jax.tree.map(lambda a, n=count: np.asarray(a)[:, :n], out))
        return FactorOutput(
            *(np.concatenate(p, axis=1) for p in zip(*parts, strict=True))
        )

    def _epoch_reporter(self, fit_date: pd.Timestamp) -> EpochCallback | None:
        """``on_epoch`` with the fit date filled in (None without ``on_epoch``)."""
        on_epoch = self.on_epoch
        if on_epoch is None:
            return None

        def report(end: EpochEnd) -> None:
            on_epoch(dataclasses.replace(end, fit_date=fit_date))

        return report

    def predict(
        self, prices: pd.DataFrame, volume: pd.DataFrame | None = None
    ) -> Forecast:
        """Forecast the next ``horizon`` days after the last row of ``prices``.

        Parameters
        ----------
        prices : pandas.DataFrame of shape (n_dates, n_assets)
            Daily prices up to the decision date. Columns may differ from the fit
            (the encoder is shared across assets).
        volume : pandas.DataFrame, optional
            Needed when the model was fitted with volume.

        Returns
        -------
        Forecast
            ``as_of`` = last date, ``mu``, ``cov``, ``factors`` (columns
            ``factor_1..k``) and ``idio`` for every column of ``prices``.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("LSTMForecaster.predict called before fit")
        _check_prices(prices)
        # Feature warm-ups reach back a year; a little more keeps the exponential
        # averages (RSI, MACD) within 1e-6 of a full-history computation.
        settings = self.model_settings
        reach = settings.seq_len + self.sample_every * (settings.mu_smoothing - 1)
        tail = prices.iloc[-(reach + 2 * 252 + 64) :]
        tail_volume = None if volume is None else volume.reindex(tail.index)
        # The model reads the last `reach` rows; the rest of the tail only warms up.
        features = compute_features(tail, tail_volume, last=reach)
        if features.names != self.feature_names_:
            raise ValueError(
                f"features {features.names} differ from the fit's "
                f"{self.feature_names_}: pass volume to predict exactly when fit had it"
            )
        prior = None
        if settings.covariance == "anchored":
            prior = prior_at(prices, self.prior_window, settings.factors, self.horizon)
        mixed = self._mixture(self.predict_features(features, prior))
        tickers = pd.Index(features.tickers)
        mu = pd.Series(mixed.mu, index=tickers)
        if self.train_settings.mean_target == "demeaned":
            mu = mu - mu.mean()  # only relative returns were learnt
        if self.train_settings.loss == "mse":
            loadings, idio = self._pca_factors(prices)
        else:
            loadings, idio = mixed.loadings, mixed.idio
        mu_std = None
        if self.model_settings.ensemble > 1:
            scale = np.sqrt(getattr(self, "view_scale_", 1.0))
            mu_std = pd.Series(scale * mixed.spread, index=tickers)
        factor_names = [f"factor_{j + 1}" for j in range(loadings.shape[1])]
        return Forecast.from_factors(
            as_of=pd.Timestamp(prices.index[-1]),
            horizon=self.horizon,
            mu=mu,
            factors=pd.DataFrame(loadings, index=tickers, columns=factor_names),
            idio=pd.Series(idio, index=tickers),
            mu_std=mu_std,
        )

    def _mixture(self, out: FactorOutput) -> Mixture:
        """The members' forecasts for the decision date, mixed (host arrays).

        ``mu`` is each member's average over the smoothing dates; the covariance
        is that of the decision date (the last date of ``out``).
        """
        # Index on the host: indexing a device array dispatches an op per call.
        mu, loadings, idio = (np.asarray(a, dtype=float) for a in out)
        if self.model_settings.ensemble == 1:  # no member axis: add it
            mu, loadings, idio = mu[None], loadings[None], idio[None]
        return mixture(mu.mean(axis=1), loadings[:, -1], idio[:, -1])

    def predict_features(
        self,
        features: Features,
        prior: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> FactorOutput:
        """Run the model on the last ``seq_len`` rows of a feature cube.

        Parameters
        ----------
        features : Features
            At least one row; fewer than ``seq_len`` rows are padded at the front
            with missing values.
        prior : (loadings, idio), optional
            The covariance prior at the decision date (n_assets x k, n_assets);
            required by an anchored model.

        Returns
        -------
        FactorOutput
            One date per smoothing step (``mu_smoothing``), the decision date last;
            for an ensemble, preceded by the member axis.
        """
        steps, length = self.model_settings.mu_smoothing, self.model_settings.seq_len
        reach = length + self.sample_every * (steps - 1)
        values = features.values[-reach:]
        if len(values) < reach:
            pad = np.full((reach - len(values),) + values.shape[1:], np.nan, np.float32)
            values = np.concatenate([pad, values])
        scaled = self.scaler_.transform(values)  # (reach, N, F)
        # Window j ends sample_every * (steps - 1 - j) days before the decision date.
        windows = np.stack(
            [
                scaled[j * self.sample_every : j * self.sample_every + length]
                for j in range(steps)
            ]
        )  # (steps, L, N, F)
        inputs: Any = jnp.asarray(np.transpose(windows, (0, 2, 1, 3)))
        if self.model_settings.covariance == "anchored":
            if prior is None:
                raise ValueError(
                    "an anchored LSTM needs the prior at the decision date"
                )
            # Earlier windows only feed the mean: the decision date's prior serves.
            loadings, idio = (
                np.repeat(np.asarray(a, np.float32)[None], steps, axis=0) for a in prior
            )
            inputs = ModelInputs(inputs, loadings, idio)
        graphdef, state = self._inference_split()
        if self.model_settings.ensemble > 1:
            return _ensemble_forward(graphdef, state, inputs)
        return _forward(graphdef, state, inputs)

    def _inference_split(self) -> tuple[nnx.GraphDef, nnx.State]:
        """The fitted model in eval mode, split into structure and weights.

        Split once per fit: walking the model's graph on every call (what
        ``nnx.jit`` does) cost more than the forward pass of a prediction. Keyed on
        the model object and the fit count, so a refit or a reload is never served
        stale weights.
        """
        cached = getattr(self, "_split", None)
        if cached is None or cached[0] is not self.model_ or cached[1] != self.n_fits_:
            self.model_.eval()
            cached = (self.model_, self.n_fits_, *nnx.split(self.model_))
            self._split = cached
        return cached[2], cached[3]

    def _pca_factors(self, prices: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        window = self.lookback_days or 1260
        returns = np.log(prices.iloc[-window:].astype(float)).diff().iloc[1:]
        sample = np.nan_to_num(returns.to_numpy(dtype=float))
        cov = np.atleast_2d(np.cov(sample, rowvar=False)) * self.horizon
        eigenvalues, eigenvectors = np.linalg.eigh(cov)
        top = np.argsort(eigenvalues)[::-1][: self.model_settings.factors]
        loadings = eigenvectors[:, top] * np.sqrt(np.clip(eigenvalues[top], 0, None))
        floor = IDIO_FLOOR * self.horizon / 21
        idio = np.clip(np.diag(cov) - (loadings**2).sum(axis=1), floor, None)
        return loadings, idio

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a checkpoint folder (see :mod:`forecasting.checkpoint`)."""
        if not hasattr(self, "model_"):
            raise RuntimeError("LSTMForecaster.save called before fit")
        metadata = {
            "kind": "lstm",
            "config": self.get_params(),
            "n_features": len(self.feature_names_),
            "feature_names": self.feature_names_,
            "scaler": self.scaler_.to_dict(),
            "tickers": self.tickers_,
            "fingerprint": self.fingerprint_,
            "fit_date": self.fit_date_.isoformat(),
            "n_fits": self.n_fits_,
            "view_scale": self.view_scale_,
            "train": {
                key: value
                for key, value in asdict(self.history_).items()
                if key != "seconds"
            },
        }
        save_checkpoint(path, self.model_, metadata)

    def save_state(self, folder: str | os.PathLike[str]) -> None:
        """Checkpoint the fitted state for a resumable backtest (if fitted)."""
        if hasattr(self, "model_"):
            self.save(folder)

    def load_state(self, folder: str | os.PathLike[str]) -> None:
        """Restore the state written by `save_state` into this forecaster."""
        if not Path(folder).exists():
            return
        loaded = type(self).load(folder)
        if loaded.get_params() != self.get_params():
            raise ValueError(
                f"checkpoint {folder} holds an LSTM with other hyperparameters"
            )
        fitted = {k: v for k, v in vars(loaded).items() if k.endswith("_")}
        vars(self).update(fitted)
        self._fitted_architecture = loaded._fitted_architecture

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], prices: pd.DataFrame | None = None
    ) -> LSTMForecaster:
        """Rebuild a fitted forecaster from a checkpoint folder.

        Parameters
        ----------
        path : path-like
        prices : pandas.DataFrame, optional
            If given, must be the training prices: their fingerprint is checked.

        Returns
        -------
        LSTMForecaster

        Raises
        ------
        ValueError
            If ``prices`` do not match the checkpoint's fingerprint.
        """
        metadata = load_checkpoint_metadata(path)
        recorded = metadata["fingerprint"]
        if (
            prices is not None
            and prices_fingerprint(prices, layout="checkpoint") != recorded
        ):
            raise ValueError(
                f"checkpoint {path} was trained on different prices (fingerprint "
                f"mismatch); pass the training prices or none"
            )
        forecaster = cls(**metadata["config"])
        model = forecaster._new_model(metadata["n_features"])
        load_checkpoint_weights(path, model)
        model.eval()
        forecaster.model_ = model
        forecaster.scaler_ = FeatureScaler.from_dict(metadata["scaler"])
        forecaster.feature_names_ = list(metadata["feature_names"])
        forecaster.tickers_ = list(metadata["tickers"])
        forecaster.fingerprint_ = metadata["fingerprint"]
        forecaster.fit_date_ = pd.Timestamp(metadata["fit_date"])
        forecaster.n_fits_ = int(metadata["n_fits"])
        forecaster.view_scale_ = float(metadata.get("view_scale", 1.0))
        forecaster.history_ = TrainResult(**metadata["train"])
        forecaster.fit_seconds_ = 0.0
        forecaster._fitted_architecture = forecaster._architecture
        return forecaster


@partial(jax.jit, static_argnums=0)
def _forward(
    graphdef: nnx.GraphDef, state: nnx.State, inputs: jnp.ndarray
) -> FactorOutput:
    """The model's forward pass; compiled once per architecture, not per fit."""
    return nnx.merge(graphdef, state)(inputs)


@partial(jax.jit, static_argnums=0)
def _ensemble_forward(
    graphdef: nnx.GraphDef, state: nnx.State, inputs: jnp.ndarray
) -> FactorOutput:
    """Every member's forward pass on the same inputs; outputs gain a member axis."""
    return jax.vmap(lambda member: nnx.merge(graphdef, member)(inputs))(state)


def _check_prices(prices: pd.DataFrame) -> None:
    if not isinstance(prices, pd.DataFrame) or prices.shape[1] == 0:
        raise ValueError("prices must be a DataFrame with at least one column")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ValueError("prices must have a DatetimeIndex")
    if len(prices) < 2:
        raise ValueError("prices need at least two rows")
