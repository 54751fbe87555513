"""A sealed value: a personal field of an event encrypted under its citizen's data key.

Only the shape lives here (events carry it); sealing and opening are in ``services/common/sealing.py``.
``kid`` names the citizen's data key: an HMAC of their normalised phone under a secret index key, so
the key store, the log and the projections hold no phone. ``nonce`` and ``ct`` are base64 (AES-GCM,
the 16-byte tag at the end of ``ct``). The associated data binds a sealed value to the field it was
sealed for and to the event's case or call id, so ciphertext moved to another field or case fails to
open.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Sealed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kid: Annotated[str, Field(min_length=1, max_length=64)]
    nonce: Annotated[str, Field(min_length=1, max_length=32)]
    ct: Annotated[str, Field(min_length=1)]


# What staff see where a citizen's personal data was erased at their request.
ERASED_FA = "حذف‌شده به درخواست شهروند"
