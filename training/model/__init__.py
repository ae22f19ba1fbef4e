"""What model.onnx is made of: the head, its temperature, the unknown score, the exported graph."""
