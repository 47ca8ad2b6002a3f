"""The mix stage: build a balanced, deduplicated, decontaminated SFT mixture from unified records.

Python API:
    recipe = load_recipe("recipes/mix-example.yaml")   # bare mix recipe or a run recipe's `mix:`
    manifest = build_mixture(recipe, Path("runs/mix"))
Modules: recipe (config), filters, text (normalisation, n-gram hashes), minhash (signatures,
LSH clusters), decontamination, sampling (quotas, selection, validation split), ledger
(per-record accounting), exports, diversity, report, scan (pass 1), builder (the two passes).
"""

from collectivesft.mix.builder import build_mixture
from collectivesft.mix.recipe import MixRecipe, load_recipe, recipe_from_dict

__all__ = ["MixRecipe", "build_mixture", "load_recipe", "recipe_from_dict"]
