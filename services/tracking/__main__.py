"""`python -m services.tracking`: run the tracking service (port 8002)."""

from services.common.run import serve

if __name__ == "__main__":
    serve("tracking", "services.tracking.entrypoints.http:create_app", 8002)
