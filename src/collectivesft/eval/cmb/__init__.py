"""CMB protocol code: prompts, answer extraction, scoring, the CMB-Exam and CMB-Clin runners.

What CMB's files are (paths, formats, loaders) lives in collectivesft.benchmarks.cmb.
"""
