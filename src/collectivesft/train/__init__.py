"""Supervised fine-tuning on a mixture (transformers + TRL + PEFT) and the tiny offline model."""
