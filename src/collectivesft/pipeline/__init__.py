"""The pipeline: the run recipe (its only reader), content-keyed stages, and `collectivesft run`."""
