"""Lint settings shared by the ament tests (ROS machines) and test_lint.py (everywhere)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the linters read: the package, the launch files and the tests.
PATHS = ['rt_async_control', 'launch', 'test', 'setup.py']
# ament_flake8's configuration adapted to this package (the application import group).
FLAKE8_CONFIG = ROOT / '.flake8'
# ament_pep257's default ignores plus D213: ament ignores D212, which leaves its exclusive twin
# D213 (summary on the second line) on; these docstrings put the summary on the first line,
# as STYLE.md and PEP 257 show. Passed with --ignore, which every ament release accepts.
PEP257_IGNORE = ['D100', 'D101', 'D102', 'D103', 'D104', 'D105', 'D106', 'D107', 'D203',
                 'D212', 'D213', 'D404']
