"""ament_flake8 over the package, as colcon test runs it where ROS 2 is installed."""

import pytest
from style_settings import FLAKE8_CONFIG, PATHS, ROOT

main_with_errors = pytest.importorskip('ament_flake8.main').main_with_errors


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8():
    rc, errors = main_with_errors(
        argv=['--config', str(FLAKE8_CONFIG), *[str(ROOT / p) for p in PATHS]])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)
