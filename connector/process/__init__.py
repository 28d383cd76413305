"""How a connector process runs: its CPUs and `--workers` processes, its lifetime, the garbage
collector, its logs, threads that serve (services, the event-loop thread), listening sockets, and
which build of the per-record modules it loads (mypyc)."""
