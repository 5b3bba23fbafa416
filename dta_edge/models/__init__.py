"""Models: the embedded tiny Qwen3 and the chat template shared with real Qwen3 models."""
