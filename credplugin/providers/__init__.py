"""One module per subcommand. Each is a leaf: it knows how to obtain a credential and nothing
of files, stdout, locks or the exec protocol. Modules import their SDKs inside `fetch`, never
at top level, because the cache-hit path imports the module to read its options.
"""
