"""Answers of a model.onnx for many files: batched prediction, text, JSON, copies."""
