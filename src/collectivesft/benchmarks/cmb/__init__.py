"""CMB (Chinese Medical Benchmark, FreedomIntelligence/CMB): layout, format, loading, rendering.

Everything the project knows about CMB's files lives here; the eval protocols, the cmb
training source and decontamination all read CMB through these modules.
"""
