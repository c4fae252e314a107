"""ament_xmllint: package.xml is valid against its declared schema."""

from pathlib import Path

import pytest

main = pytest.importorskip('ament_xmllint.main').main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.linter
@pytest.mark.xmllint
def test_xmllint():
    rc = main(argv=[str(ROOT / 'package.xml')])
    assert rc == 0, 'Found errors'
