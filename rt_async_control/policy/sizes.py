"""Network size classes by name, importable without torch (the CLI lists them)."""

from __future__ import annotations

from dataclasses import dataclass

from rt_async_control.errors import InputError


@dataclass(frozen=True)
class MlpSize:
    """Hidden width and number of hidden layers of one size class.

    :param width: units per hidden layer.
    :param depth: number of hidden layers.
    :param nominal: the rough parameter count this size stands for (for tables).
    """

    width: int
    depth: int
    nominal: str


# Sizes span ~10 k to ~50 M parameters so the inference table covers the range from "always
# faster than a control period" to "needs several staggered workers".
SIZES: dict[str, MlpSize] = {
    'tiny': MlpSize(64, 3, '~10k'),
    'small': MlpSize(224, 3, '~100k'),
    'medium': MlpSize(576, 4, '~1M'),
    'large': MlpSize(1600, 5, '~10M'),
    'xl': MlpSize(3200, 6, '~50M'),
}


def size_spec(size: str) -> MlpSize:
    """Return the width/depth of a size name.

    :param size: one of :data:`SIZES`.
    :raises InputError: for an unknown size name.
    """
    try:
        return SIZES[size]
    except KeyError:
        raise InputError(f'size: unknown size {size!r} (expected one of '
                         f'{", ".join(SIZES)})') from None
