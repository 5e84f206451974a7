"""The static catalogue states what the bundled data really holds."""

import subprocess
import sys

import pandas as pd
import pytest

from foliocast.data.catalogue import CATALOGUE
from foliocast.data.datasets import (
    DATASETS,
    _fama_french_rf,
    asset_classes,
    load_dataset,
    risk_free_info,
)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_each_dataset_row_matches_its_data(name):
    prices = load_dataset(name)
    facts = CATALOGUE[name]
    assert facts.assets == prices.shape[1]
    assert facts.asset_classes == ", ".join(sorted(set(asset_classes(name))))
    assert facts.first_date == prices.index[0].date().isoformat()
    assert facts.last_date == prices.index[-1].date().isoformat()


def test_the_risk_free_row_matches_its_data():
    rf = _fama_french_rf()
    facts = CATALOGUE["risk_free"]
    assert facts.first_date == rf.index[0].date().isoformat()
    last_day = rf.index[-1] + pd.offsets.MonthEnd(0)
    assert facts.last_date == last_day.date().isoformat()
    assert facts.description == risk_free_info()


def test_every_dataset_and_only_those_are_listed():
    assert list(CATALOGUE) == [*DATASETS, "risk_free"]


def test_the_catalogue_loads_no_numerical_library():
    probe = (
        "import sys, foliocast.data.catalogue, foliocast.data.errors; "
        "print(sorted({'numpy', 'pandas'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
