"""What leaves a trained run: ONNX export and decoding samples."""
