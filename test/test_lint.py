"""Lint on every machine: ruff, and flake8 / pydocstyle configured exactly as the ament tests.

On a ROS 2 machine test_flake8.py and test_pep257.py run the ament wrappers; these run the
same tools with the same settings where ament is absent, so CI catches what colcon test would.
"""

from pathlib import Path
import shutil
import subprocess
import sys

import pytest
from style_settings import FLAKE8_CONFIG, PATHS, PEP257_IGNORE, ROOT


def tool(name: str) -> str:
    """Return the path of a console script of this interpreter's environment, or skip."""
    path = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(path).exists():
        pytest.skip(f'{name} is not installed')
    return path


def run(argv: list[str]) -> subprocess.CompletedProcess:
    """Run a linter from the repository root and capture its report."""
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)


def test_ruff_clean():
    result = run([tool('ruff'), 'check', '--no-cache', '.'])
    assert result.returncode == 0, result.stdout + result.stderr


def test_flake8_with_ament_plugins_clean():
    flake8 = tool('flake8')
    plugins = run([flake8, '--version']).stdout
    for plugin in ('flake8-quotes', 'flake8_import_order', 'flake8-docstrings'):
        if plugin not in plugins:
            pytest.skip(f'{plugin} is not installed')
    result = run([flake8, '--config', str(FLAKE8_CONFIG), *PATHS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_pydocstyle_as_ament_pep257_clean():
    paths = [p for p in PATHS if p != 'setup.py']
    result = run([tool('pydocstyle'), '--ignore=' + ','.join(PEP257_IGNORE),
                  '--match=.*\\.py', '--match-dir=[^\\._].*', *paths])
    assert result.returncode == 0, result.stdout + result.stderr
