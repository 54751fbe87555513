"""Run notify: ``python -m services.notify [--port 8003]``."""

from services.common.run import serve

if __name__ == "__main__":
    serve("notify", "services.notify.entrypoints.http:create_app", 8003)
