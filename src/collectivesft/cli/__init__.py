"""The `collectivesft` command line (cli/main.py). Thin: parse arguments, call a stage, print.

Each stage's commands live in their own module under cli/ and register themselves on the
root app. Heavy libraries (torch, transformers, datasets) are imported inside commands only,
so `collectivesft --help` stays fast.
"""
