"""ament_pep257 over the package (docstring form), as colcon test runs it."""

import pytest
from style_settings import PATHS, PEP257_IGNORE, ROOT

main = pytest.importorskip('ament_pep257.main').main


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257():
    paths = [str(ROOT / p) for p in PATHS if p != 'setup.py']
    rc = main(argv=['--ignore', *PEP257_IGNORE, '--', *paths])
    assert rc == 0, 'Found code style errors / warnings'
