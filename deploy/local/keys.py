"""The local stack's sealing keys: key-encryption keys and the index key, made once per profile.

They are written to .local/<profile>/keys.json (mode 0600) on the first start of a profile and read
by `make up`, the test harness and the benchmarks, which hand them to the services as SAMAD_KEKS and
SAMAD_INDEX_KEY. Losing the file loses every sealed value of that profile (as losing the Secret
would in production), so it is never rewritten. In Kubernetes the same two values come from the
`samad-sealing` Secret (deploy/k8s), never from the repository.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

FILE = "keys.json"


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode("ascii")


def ensure(home: Path) -> Path:
    """The profile's key file, made (0600) if it does not exist yet."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / FILE
    if not path.exists():
        body = json.dumps({"keks": f"local1:{_key()}", "index_key": _key()}).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
    return path


def service_env(home: Path) -> dict[str, str]:
    """SAMAD_KEKS and SAMAD_INDEX_KEY for the services of the profile whose data lives in ``home``."""
    found = json.loads(ensure(home).read_text())
    return {"SAMAD_KEKS": found["keks"], "SAMAD_INDEX_KEY": found["index_key"]}
