"""collectivesft: build medical LLMs the CollectiveSFT way.

convert public medical datasets -> mix a balanced SFT set -> fine-tune -> evaluate on CMB -> report.
"""

__version__ = "0.1.0"
