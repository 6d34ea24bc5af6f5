"""The asset graph, one module per layer: ``bronze``, ``silver``, ``gold``."""
