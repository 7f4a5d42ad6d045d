"""Serving: suggestions on the command line, over HTTP and in the browser (app.py, engine.py, store.py)."""
