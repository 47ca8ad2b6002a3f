"""Inference back-ends for evaluation (hf, vllm, openai), registered by name in registry.py."""
