"""ONNX Runtime policies and the torch tools that make them."""
