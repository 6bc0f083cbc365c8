"""Inference core: preprocessing shared with training, the ONNX model contract and the engine."""
