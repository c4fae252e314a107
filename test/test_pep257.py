"""ament_pep257 over the package (docstring form), as colcon test runs it."""

from pathlib import Path

import pytest

main = pytest.importorskip('ament_pep257.main').main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    rc = main(argv=[str(ROOT / 'rt_async_control'), str(ROOT / 'launch'), str(ROOT / 'test')])
    assert rc == 0, 'Found code style errors / warnings'
