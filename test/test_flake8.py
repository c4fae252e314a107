"""ament_flake8 over the package, as colcon test runs it where ROS 2 is installed."""

from pathlib import Path

import pytest

main_with_errors = pytest.importorskip('ament_flake8.main').main_with_errors

ROOT = Path(__file__).resolve().parent.parent
PATHS = ['rt_async_control', 'launch', 'test', 'setup.py']
# ament_flake8's own configuration, plus: this package is the application, so its imports form
# the last group (the layout ruff's isort writes), and multi-line strings take single quotes
# like every other string (ruff.toml); only our paths are checked, never .venv or build.
CONFIG = '''[flake8]
extend-ignore = C816,D100,D101,D102,D103,D104,D105,D106,D107,D203,D212,D404,I202
import-order-style = google
application-import-names = rt_async_control
multiline-quotes = '
max-line-length = 99
'''


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(tmp_path):
    config = tmp_path / 'flake8.ini'
    config.write_text(CONFIG)
    rc, errors = main_with_errors(
        argv=['--config', str(config), *[str(ROOT / p) for p in PATHS]])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
