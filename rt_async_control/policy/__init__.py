"""ONNX Runtime policies and the torch tools that make them.

- ``metadata``: :class:`ModelMetadata`, stored inside the ``.onnx`` and as a ``.json`` sidecar;
- ``onnx_policy``: :class:`OnnxPolicy`, the run-time wrapper (no torch needed);
- ``sizes`` / ``mlp``: network size classes and the torch MLP;
- ``train`` / ``export``: distillation of the task experts (DAgger) and torch -> ONNX;
- ``evaluate``: seeded rollouts, with an optional observation delay.
"""
