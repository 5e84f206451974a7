"""Every YAML config (run or sweep) in README.md is valid exactly as written."""

import re
from pathlib import Path

import pytest
import yaml

from foliocast.portfolio.config import load_config
from foliocast.portfolio.sweep.grid import load_grid

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```ya?ml\n(.*?)^```", README.read_text(), re.M | re.S)


def test_the_readme_has_config_snippets():
    assert BLOCKS, "README.md lost its ```yaml config blocks"


@pytest.mark.parametrize("number", range(len(BLOCKS)))
def test_readme_config_snippet_loads(number, tmp_path, monkeypatch):
    # Snippets name files of the reader's own (my_prices.csv); the config is
    # validated, and no data is read, so an empty stand-in is enough.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_prices.csv").write_text("")
    path = tmp_path / "snippet.yaml"
    path.write_text(BLOCKS[number])
    values = yaml.safe_load(BLOCKS[number])
    if isinstance(values, dict) and "grid" in values:
        load_grid(path)
    else:
        load_config(path)
