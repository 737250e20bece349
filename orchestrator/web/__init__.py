"""The dashboard: a FastAPI app over the state home (Jinja2 pages, a JSON API, live SSE).

Imported only by ``orch dashboard`` and ``orch run --dashboard``: the read commands never
load FastAPI or Jinja2.
"""
