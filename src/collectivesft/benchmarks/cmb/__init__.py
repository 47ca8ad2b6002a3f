"""CMB (Chinese Medical Benchmark, FreedomIntelligence/CMB): layout, format, loading, rendering.

Everything the project knows about CMB's files lives here; the eval protocols, the cmb
training source and decontamination all read CMB through these modules. `suite_entry`
registers CMB-Exam as the suite benchmark `cmb` (a cheap import: the runner loads lazily).
"""

from collectivesft.benchmarks.cmb import suite_entry  # noqa: F401  (registers "cmb")
