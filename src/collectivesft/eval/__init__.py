"""Evaluation: CMB-Exam and CMB-Clin (cmb/), inference back-ends (backends/), an OpenAI-compatible server."""
