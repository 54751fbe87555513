"""`python -m services.console [--port 8005]`: the console (the operator's desk and the citizen's pages)."""

from services.common.run import serve

if __name__ == "__main__":
    serve("console", "services.console.entrypoints.http:create_app", 8005)
