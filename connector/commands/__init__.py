"""One module per CLI sub-command. Each defines NAME, HELP, `configure(parser)` and `run(args)`.

`connector.cli` discovers them, so adding a command never touches the others.
"""
