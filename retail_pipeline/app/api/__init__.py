"""``retail-pipeline serve``: the read API over one lakehouse (FastAPI on uvicorn). ``server.py`` builds the
app; each route group has its module (``health``, ``tables``, ``marts``, ``stats``); keys and scopes are
``security.py``, errors ``problems.py``, the access log and metrics ``observability.py``."""
