"""Export: merged checkpoints to GGUF (llama.cpp) and, later, ONNX."""
