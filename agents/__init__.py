"""Training side of neuroq: DQN training, conversion, fine-tuning, export and the CLI.

Importing this package is cheap: modules that need torch import it inside their functions,
so robot-side CLI subcommands never load it.
"""
