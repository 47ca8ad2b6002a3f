"""The mix stage: build a balanced, deduplicated, decontaminated SFT mixture from unified records.

Python API (`collectivesft data mix` adds the conversion of raw sources, pipeline/run.py):
    recipe = mix.recipe.load_recipe("recipes/mix-example.yaml")
    manifest = mix.builder.build_mixture(recipe, Path("runs/mix"))
Modules: recipe (config), filters, text (normalisation, n-gram hashes), minhash (signatures,
LSH clusters), decontamination, sampling (quotas, selection, validation split), ledger
(per-record accounting), exports, diversity, report, scan (pass 1), builder (the two passes).
"""
