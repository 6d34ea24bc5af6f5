"""Entry points: the command line, the runner, erasure, the quarantine report, the generator."""
