"""The risk-committee report: self-contained, escaped, deterministic, readable.

Every report here is drawn from a record built by hand (`records.synthetic_record`):
no backtest runs. `tests/portfolio/backtest/test_held_out.py` draws one from a run
folder.
"""

from __future__ import annotations

import ast
import base64
import dataclasses
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import markupsafe
import numpy as np
import pandas as pd
import pytest

import foliocast.risk
from foliocast.risk.report.diagnostics import _significance_verdicts, _verdict
from foliocast.risk.report.record import ReportInput, RunSettings
from foliocast.risk.report.render import (
    _embed,
    _figure,
    _label,
    limitations,
    metrics_frame,
    render_report,
    write_metrics_csv,
    write_report,
)
from tests.risk.report.records import (
    FINGERPRINT,
    MAIN,
    RETRAIN_DATES,
    RISK_FREE_TEXT,
    synthetic_record,
)

SECTIONS = [
    "summary",
    "metrics",
    "equity",
    "drawdowns",
    "rolling",
    "calendar",
    "weights",
    "turnover",
    "risk",
    "tracking",
    "forecast",
    "significance",
    "rebalances",
    "limitations",
]
MODEL = MAIN
SIGNIFICANCE_NAMES = {"one_over_n": "equal_weight", "benchmark": "index"}
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}
EVIL_TICKER = "<script>alert(1)</script>"
EVIL_NAME = '<img src=x onerror="alert(2)">'
EVIL_REASON = 'solver <b>said</b> "infeasible" & <i>gave up</i>'
MATH_TICKER = r"$\notacommand$"  # would crash matplotlib's mathtext if not escaped


class Page(HTMLParser):
    """Tags, attributes and text of a page, with a check that elements close."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.unbalanced: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1] == tag:
            self.stack.pop()
        else:
            self.unbalanced.append(tag)

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def record():
    return synthetic_record(seed=0)


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("report")


@pytest.fixture(scope="module")
def report(record, out_dir) -> Path:
    return write_report(record, out_dir)


@pytest.fixture(scope="module")
def html(report) -> str:
    return report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(html) -> Page:
    return parse(html)


def test_report_is_written_into_the_folder_without_leftovers(out_dir, report):
    assert report == out_dir / "report.html"
    assert [p.name for p in out_dir.iterdir()] == ["report.html"]  # no temporary
    assert report.stat().st_size < 3_000_000


def test_plot_labels_cannot_trigger_mathtext():
    fig, axes = _figure(2.0)
    axes[0, 0].plot([0, 1], [0, 1], label=_label(MATH_TICKER))
    axes[0, 0].legend()
    assert _embed(fig, "a plot").uri.startswith("data:image/png;base64,")


def test_html_parses_with_balanced_elements_and_every_section(page):
    assert page.unbalanced == []
    assert page.stack == []
    names = [tag for tag, _ in page.tags]
    for essential in ("html", "head", "title", "style", "body", "main", "nav"):
        assert names.count(essential) == 1, essential
    ids = [attrs["id"] for attrs in page.all("section")]
    assert ids == SECTIONS
    links = [attrs["href"] for attrs in page.all("a")]
    assert links == [f"#{anchor}" for anchor in SECTIONS]
    assert len(page.all("table")) >= 10
    assert len(page.all("img")) >= 9


def test_report_is_self_contained(page, html):
    assert not page.all("script")
    assert not page.all("link")
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "data"):
            value = attrs.get(name) or ""
            if value.startswith("data:image/png;base64,"):
                continue  # an embedded image; base64 text may spell "http" by chance
            assert "http" not in value.lower(), (tag, name, value[:80])
            assert "//" not in value, (tag, value[:80])
    for attrs in page.all("img"):
        prefix = "data:image/png;base64,"
        assert attrs["src"].startswith(prefix)
        png = base64.b64decode(attrs["src"][len(prefix) :], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert attrs["alt"]
    assert "@import" not in html and "url(" not in html


def test_report_states_provenance_and_results(record, page):
    text = " ".join(page.text)
    assert FINGERPRINT in text
    assert RISK_FREE_TEXT in text
    for date in RETRAIN_DATES:
        assert date in text
    for name in record.returns.columns:
        assert f"{name}: the {name} strategy" in text  # with its description
    sharpe = record.metrics["strategies"][MODEL]["sharpe"]
    assert f"{sharpe:.2f}" in text
    assert f"Did {MODEL} beat 1/N? " in text
    assert "Survivorship bias" in text
    assert f"main strategy {MODEL}" in text


def test_report_answers_whether_the_model_beat_one_over_n(record, page):
    summary = record.metrics["strategies"][MODEL]
    beat = (
        summary["sharpe_diff_pvalue"] < 0.05
        and summary["sharpe_diff_vs_equal_weight"] > 0
    )
    text = " ".join(page.text)
    assert f"Did {MODEL} beat 1/N? {'Yes' if beat else 'No'}: {MODEL}" in text
    assert text.index(f"Did {MODEL} beat 1/N?") < text.index(f"{MODEL}'s DSR is")


def test_same_record_gives_the_same_bytes(html):
    # A record built again from the same seed: equal data, new objects.
    assert render_report(synthetic_record(seed=0)) == html


def _tampered(record):
    """The record with two tickers, the run's name and one failure reason hostile."""
    renames = {"AAPL": EVIL_TICKER, "MSFT": MATH_TICKER}

    def rename(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(asset=frame["asset"].replace(renames))

    rebalances = record.rebalances.copy()
    failed = rebalances.index[rebalances["strategy"] == MODEL][3]
    rebalances.loc[failed, ["status", "reason"]] = ["failed", EVIL_REASON]
    return dataclasses.replace(
        record,
        settings=dataclasses.replace(record.settings, name=EVIL_NAME),
        config={**record.config, "name": EVIL_NAME},
        weights=rename(record.weights),
        forecasts=rename(record.forecasts),
        assets=rename(record.assets),
        rebalances=rebalances,
    )


def test_user_strings_are_escaped(record, tmp_path):
    html = write_report(_tampered(record), tmp_path).read_text(encoding="utf-8")
    for evil in (EVIL_TICKER, EVIL_NAME, EVIL_REASON):
        assert evil not in html
        assert str(markupsafe.escape(evil)) in html
    page = parse(html)
    assert not page.all("script")
    assert all("onerror" not in attrs for _, attrs in page.tags)
    text = " ".join(page.text)
    assert EVIL_TICKER in text  # shown to the reader as text
    assert MATH_TICKER in text
    assert "failed" in text


def test_run_without_model_forecasts_says_so(record):
    metrics = {**record.metrics, "forecast": {}}
    html = render_report(
        dataclasses.replace(record, metrics=metrics, forecast_skill=pd.DataFrame())
    )
    assert "forecasts are not scored" in html
    assert "Predicted against realised volatility" in html


def test_verdicts_are_honest_about_significance():
    one_over_n = {"sharpe": 0.80}
    same = {
        "sharpe": 0.95,
        "sharpe_diff_vs_equal_weight": 0.15,
        "sharpe_diff_pvalue": 0.42,
        "sharpe_diff_method": "jobson_korkie_memmel",
    }
    assert _verdict("lstm_mvo", same, one_over_n) == (
        "No: lstm_mvo did not beat 1/N beyond chance. Its Sharpe ratio (0.95) is "
        "higher than 1/N's (0.80), but the difference is not significant at the 5% "
        "level (p = 0.420, Jobson-Korkie with Memmel's correction)."
    )
    better = {**same, "sharpe": 1.5, "sharpe_diff_vs_equal_weight": 0.7}
    assert _verdict("x", {**better, "sharpe_diff_pvalue": 0.01}, one_over_n).startswith(
        "Yes: x beat 1/N. Its Sharpe ratio (1.50) is higher than 1/N's"
    )
    worse = {**same, "sharpe": 0.1, "sharpe_diff_vs_equal_weight": -0.7}
    assert _verdict(
        "x", {**worse, "sharpe_diff_pvalue": 0.0001}, one_over_n
    ).startswith("No: x did worse than 1/N. Its Sharpe ratio (0.10) is lower")
    tiny = _verdict("x", {**worse, "sharpe_diff_pvalue": 0.0}, one_over_n)
    assert "p < 0.001," in tiny
    assert "could not be compared" in _verdict("x", {"sharpe": 0.8}, one_over_n)


def _summaries(difference: float, p_value: float, dsr: float) -> dict:
    return {
        "lstm_mvo": {
            "sharpe": 0.76 + difference,
            "dsr": dsr,
            "sharpe_diff_vs_equal_weight": difference,
            "sharpe_diff_pvalue": p_value,
            "sharpe_diff_method": "jobson_korkie_memmel",
        },
        "equal_weight": {"sharpe": 0.76, "dsr": 0.99},
        "min_variance": {"sharpe": 0.74, "dsr": 0.97},
        "index": {"sharpe": 0.5},
    }


def test_significance_leads_with_the_answer_and_never_contradicts_it():
    # The case of the issue: lower than 1/N (p = 0.018) with a high DSR.
    names = ["lstm_mvo", "min_variance", "equal_weight", "index"]
    verdicts = _significance_verdicts(
        _summaries(-0.24, 0.018, 0.981), names, "lstm_mvo", **SIGNIFICANCE_NAMES
    )
    text = " ".join(verdicts)
    assert verdicts[0].startswith("Did lstm_mvo beat 1/N? No: lstm_mvo did worse")
    assert "Yes" not in text and "higher than 1/N" not in text
    assert "the 3 strategies of this run" in text  # the index is not a trial
    dsr_line = verdicts[-1]
    assert dsr_line.startswith("lstm_mvo's DSR is 0.98")
    assert "above zero" in dsr_line
    assert "not evidence that lstm_mvo beat 1/N" in dsr_line
    # Each test is said to ask its own question.
    assert any("differs from 1/N's" in v and "neither compares" in v for v in verdicts)


@pytest.mark.parametrize("difference", [-0.3, -0.05, 0.05, 0.3])
@pytest.mark.parametrize("p_value", [0.001, 0.049, 0.051, 0.6])
@pytest.mark.parametrize("dsr", [0.2, 0.96])
def test_significance_answer_follows_the_difference_test(difference, p_value, dsr):
    names = ["lstm_mvo", "min_variance", "equal_weight", "index"]
    summaries = _summaries(difference, p_value, dsr)
    verdicts = _significance_verdicts(
        summaries, names, "lstm_mvo", **SIGNIFICANCE_NAMES
    )
    beat = p_value < 0.05 and difference > 0
    answer = verdicts[0].removeprefix("Did lstm_mvo beat 1/N? ")
    assert answer.startswith("Yes:" if beat else "No:")
    text = " ".join(verdicts)
    assert ("beat 1/N." in text) == beat  # "beat 1/N." only in the Yes answer
    if not beat:
        assert "significantly better" not in text and "Yes" not in text
    assert ("above zero at the 5% level even" in text) == (dsr >= 0.95)


def test_limitations_mention_the_carried_forward_risk_free_rate(record):
    # The synthetic run ends in 2018-06, before the rate's last month (2018-11).
    assert not any("carry its last rate" in item for item in limitations(record))
    run = {**record.metrics["run"], "end": "2019-06-28"}
    late = dataclasses.replace(record, metrics={**record.metrics, "run": run})
    assert any("ends in 2018-11" in item for item in limitations(late))


def test_metrics_csv_round_trips_the_summaries(record, tmp_path):
    path = write_metrics_csv(record.metrics, tmp_path)
    assert path == tmp_path / "metrics.csv"
    table = pd.read_csv(path, index_col="strategy")
    assert list(table.index) == list(record.metrics["strategies"])
    expected = metrics_frame(record.metrics)
    np.testing.assert_allclose(table["sharpe"], expected["sharpe"])
    assert table.loc[MODEL, "sharpe_diff_method"] == "jobson_korkie_memmel"


def test_missing_output_folder_is_a_clear_error(record, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        write_report(record, tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_chromium_screenshot_is_not_blank(report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is required in CI to check the report renders")
        pytest.skip("chromium is not installed")
    shot = tmp_path / "report.png"
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        report.resolve().as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    ink = (pixels < 0.9).any(axis=-1).mean()  # share of pixels that are not white
    assert 0.05 < ink < 0.9
    assert pixels.std() > 0.1


def test_limitations_warn_that_one_lstm_run_is_one_draw(record):
    assert not any("one training run" in item for item in limitations(record))
    settings = dataclasses.replace(record.settings, forecaster="lstm")
    items = limitations(dataclasses.replace(record, settings=settings))
    assert any("The LSTM is one training run" in item for item in items)


def test_forecast_uncertainty_summarises_mu_std():
    from foliocast.risk.report.diagnostics import forecast_uncertainty

    forecasts = pd.DataFrame(
        {
            "date": ["2020-01-31"] * 3 + ["2020-02-28"] * 3 + ["2020-01-31"] * 3,
            "forecaster": ["model"] * 6 + ["ledoit_wolf"] * 3,
            "asset": list("ABC") * 3,
            "mu": [0.01, -0.02, 0.03, 0.04, -0.05, 0.06, 0.01, 0.01, 0.01],
            "mu_std": [0.01, 0.02, 0.03, 0.04, 0.05, 0.07] + [np.nan] * 3,
        }
    )
    summary = forecast_uncertainty(forecasts)
    assert list(summary.index) == ["model"]  # no standard error: not listed
    row = summary.loc["model"]
    assert row["dates"] == 2
    assert row["median_mu_std"] == pytest.approx(0.035)  # of 6 values
    assert row["median_abs_mu"] == pytest.approx(0.035)
    assert row["ratio"] == pytest.approx(1.0)
    assert forecast_uncertainty(forecasts.drop(columns="mu_std")).empty


def test_report_shows_forecast_uncertainty_only_with_mu_std(record, html):
    assert "Forecast uncertainty" not in html
    forecasts = record.forecasts.copy()
    model = forecasts["forecaster"] == "model"
    forecasts.loc[model, "mu_std"] = 0.5 * forecasts.loc[model, "mu"].abs() + 1e-4
    text = render_report(dataclasses.replace(record, forecasts=forecasts))
    assert "Forecast uncertainty" in text and "Median mu_std" in text


def test_names_come_from_the_record_not_from_the_report():
    # Strategy names the report has never heard of: the record says which is which.
    record = synthetic_record(seed=1)
    names = {
        "ewma_mvo": "alpha",
        "min_variance": "beta",
        "equal_weight": "naive",
        "buy_and_hold": "held",
        "index": "market",
    }

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(strategy=frame["strategy"].replace(names))

    metrics = {
        **record.metrics,
        "strategies": {names[k]: v for k, v in record.summaries.items()},
    }
    text = render_report(
        dataclasses.replace(
            record,
            returns=record.returns.rename(columns=names),
            metrics=metrics,
            main="alpha",
            descriptions={},
            weights=renamed(record.weights),
            rebalances=renamed(record.rebalances),
            one_over_n="naive",
            benchmark="market",
        )
    )
    assert "Did alpha beat 1/N? " in text
    assert "against naive on the same days" in text
    assert "&#39;market&#39; is the benchmark index" in text
    assert "the 4 strategies of this run" in text  # the benchmark is no trial
    assert "ewma_mvo" not in text and "equal_weight" not in text


def test_a_record_of_returns_alone_renders(tmp_path):
    # The least anyone can hand over: returns, the settings stated, the main one.
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2020-01-01", periods=300)
    record = ReportInput(
        returns=pd.DataFrame(
            rng.normal(4e-4, 1e-2, (300, 2)), index=days, columns=["mine", "other"]
        ),
        metrics={},
        settings=RunSettings(name="by hand", forecaster="own", horizon=5, cost_bps=0),
        main="mine",
    )
    page = parse(write_report(record, tmp_path).read_text(encoding="utf-8"))
    assert page.unbalanced == [] and page.stack == []
    assert [attrs["id"] for attrs in page.all("section")] == SECTIONS
    text = " ".join(page.text)
    assert "main strategy mine" in text
    assert "no 1/N strategy" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"main": "nobody"}, "'nobody' is not a column of the returns"),
        ({"returns": pd.DataFrame()}, "no returns to report"),
        (
            {"returns": pd.DataFrame({MAIN: [0.01]}, index=[0])},
            "the index must hold dates",
        ),
    ],
)
def test_a_record_the_report_cannot_draw_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        synthetic_record(days=30, **change)


def test_a_horizon_of_no_days_is_refused():
    with pytest.raises(ValueError, match="RunSettings.horizon"):
        dataclasses.replace(synthetic_record(days=30).settings, horizon=0)


def test_risk_imports_nothing_of_portfolio():
    # risk/ is a leaf of the import graph: the report draws from plain records.
    root = Path(foliocast.risk.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                assert not module.startswith("foliocast.portfolio"), (path, module)
