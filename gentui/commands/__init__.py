"""One module per `gentui` subcommand: `add_arguments(parser)` and `run(args, settings) -> int`."""
