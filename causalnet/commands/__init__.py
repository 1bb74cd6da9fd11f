"""causalnet's own subcommands (each module has a ``register(subparsers)``)."""
