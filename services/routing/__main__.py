"""`python -m services.routing [--port 8004]`: the routing service."""

from services.common.run import serve

if __name__ == "__main__":
    serve("routing", "services.routing.entrypoints.http:create_app", 8004)
