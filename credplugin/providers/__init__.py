"""One package per subcommand: `PROVIDER`, its declaration, in `__init__` (read on every
call), and `Fetcher` in `fetch` (read on a cache miss). See base.py."""
