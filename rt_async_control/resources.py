"""Where the installed ``share/rt_async_control`` directory is.

The same tree is installed by colcon (ament index), by pip (``<prefix>/share``) or used from a
source checkout, so scenes, models and parameter files are looked up in that order.
"""

from __future__ import annotations

import functools
from pathlib import Path
import sys

PACKAGE = 'rt_async_control'


@functools.cache
def share_dir() -> Path:
    """Return the package's share directory (holds ``sim/``, ``models/``, ``config/``).

    :return: the first of: the ament index entry, ``sys.prefix/share/<pkg>``, the source tree.
    """
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - ament_index is absent or the package is not indexed
        pass
    source_tree = Path(__file__).resolve().parent.parent
    if (source_tree / 'package.xml').is_file() and (source_tree / 'sim').is_dir():
        return source_tree
    installed = Path(sys.prefix) / 'share' / PACKAGE
    if installed.is_dir():
        return installed
    raise FileNotFoundError(f'cannot find the {PACKAGE} share directory (looked in {installed})')


def share_path(*parts: str) -> Path:
    """Return a path under the share directory, for example the arm's scene in ``sim/``."""
    return share_dir().joinpath(*parts)
