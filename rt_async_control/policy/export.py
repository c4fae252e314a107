"""Export a torch policy network to ONNX with its metadata inside and beside it."""

from __future__ import annotations

import logging
from pathlib import Path
import warnings

import onnx
import torch

from rt_async_control.policy.metadata import (
    INPUT_NAME,
    METADATA_KEY,
    ModelMetadata,
    OUTPUT_NAME,
    write_sidecar,
)

OPSET = 18


def export_onnx(model: torch.nn.Module, metadata: ModelMetadata, path: str | Path) -> Path:
    """Write ``model`` as ONNX (batch dimension dynamic) plus the JSON sidecar.

    The dynamo exporter (``torch.onnx.export(..., dynamo=True)``, needs onnxscript) is used;
    the graph is then re-saved with :data:`METADATA_KEY` in ``metadata_props`` so a lone
    ``.onnx`` file still describes itself.

    :param model: network mapping ``(B, metadata.input_dim)`` to ``(B, metadata.output_dim)``.
    :param metadata: the record stored with the model.
    :param path: destination ``.onnx`` path (parent directories are created).
    :return: the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().to('cpu', torch.float32)
    example = torch.zeros(2, metadata.input_dim, dtype=torch.float32)
    batch = torch.export.Dim('batch', min=1)
    # The exporter logs optional registrations it skips (torchvision ops) at warning level.
    logging.getLogger('torch.onnx').setLevel(logging.ERROR)
    with warnings.catch_warnings(), torch.no_grad():
        # The exporter warns about its own internals (deprecations, opset choices); the
        # equality test against torch is what tells whether the graph is right.
        warnings.simplefilter('ignore')
        program = torch.onnx.export(
            model, (example,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True, verbose=False,
        )
    proto = program.model_proto
    onnx.helper.set_model_props(proto, {METADATA_KEY: metadata.to_json()})
    proto.producer_name = 'rt_async_control'
    onnx.checker.check_model(proto)
    onnx.save_model(proto, str(path))
    write_sidecar(path, metadata)
    return path
