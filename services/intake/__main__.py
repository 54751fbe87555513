"""`python -m services.intake [--port 8001]`: the intake service."""

from services.common.run import serve

if __name__ == "__main__":
    serve("intake", "services.intake.entrypoints.http:create_app", 8001)
