"""The embedded default: the local AWS server, the process tree, the stack, the demo and the
local inventory writer. Only the CLI imports this package.
"""
