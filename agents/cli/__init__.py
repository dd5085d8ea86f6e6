"""The `neuroq` command line: one thin module per subcommand (parse, call, print)."""
