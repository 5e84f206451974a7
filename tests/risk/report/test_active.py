"""The tracking-error section: realised and ex-ante tracking error per strategy."""

import dataclasses
import math

import numpy as np

from foliocast.risk.report.active import (
    benchmark_text,
    ex_ante_tracking,
    tracking_section,
)
from foliocast.risk.report.tables import FORMATS
from tests.risk.report.records import BENCHMARK, MAIN, ONE_OVER_N, synthetic_record


def _blocks(section, kind):
    return [block.item for block in section.blocks if block.kind == kind]


def test_the_section_shows_realised_and_mean_ex_ante_tracking_error():
    record = synthetic_record(seed=0)
    section = tracking_section(record)
    (table,) = _blocks(section, "table")
    rows = {row[0].text: [cell.text for cell in row[1:]] for row in table.rows}
    assert BENCHMARK not in rows  # the index is not traded
    own = record.rebalances[record.rebalances.strategy == MAIN]
    expected_mean = own.predicted_te.mean() * math.sqrt(252 / 21)
    realised = record.summaries[MAIN]["active_tracking_error"]
    assert rows[MAIN][:2] == [FORMATS["pct2"](realised), FORMATS["pct2"](expected_mean)]
    assert rows[ONE_OVER_N][1:] == [FORMATS["pct2"](0.0)] * 2
    assert "1/N of the assets investable" in " ".join(_blocks(section, "text"))
    assert len(_blocks(section, "plot")) == 1


def test_ex_ante_tracking_is_annualised_per_strategy():
    record = synthetic_record(seed=0)
    frame = ex_ante_tracking(record)
    assert list(frame.columns) == [n for n in record.traded]
    own = record.rebalances[record.rebalances.strategy == MAIN].set_index("date")
    np.testing.assert_allclose(
        frame[MAIN].to_numpy(), own.predicted_te.to_numpy() * math.sqrt(252 / 21)
    )


def test_a_benchmark_file_is_named():
    text = benchmark_text({"benchmark": {"path": "my_bench.csv"}})
    assert "the weights in my_bench.csv" in text and "rescaled" in text
    assert benchmark_text({}).startswith("1/N")


def test_a_run_without_tracking_error_says_so():
    record = synthetic_record(seed=0)
    summaries = {
        name: {k: v for k, v in summary.items() if k != "active_tracking_error"}
        for name, summary in record.summaries.items()
    }
    older = dataclasses.replace(
        record,
        rebalances=record.rebalances.drop(columns="predicted_te"),
        metrics={**record.metrics, "strategies": summaries},
    )
    section = tracking_section(older)
    assert _blocks(section, "table") == []
    assert "No tracking error to a benchmark portfolio" in _blocks(section, "note")[0]
