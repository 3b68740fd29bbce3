"""``ArtifactService.begin_receive``: an upload fed chunk by chunk, as the API's storage route does.

Whatever ends it early (too many bytes, too few, an abort) leaves nothing in the folder: no object,
no temporary part, no empty folder (issue 8).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from helixnet.errors import Conflict, PayloadTooLarge, ValidationFailed

DATA = b"0123456789" * 3


def grant_for(hx: Any, user: Any, size: int = len(DATA)) -> Any:
    artifact = hx.artifacts.begin_upload(user, "data.bin", size)
    return hx.artifacts.redeem(hx.artifacts.upload_request(artifact.id, user).token, "PUT")


def everything(hx: Any) -> list[str]:
    root = Path(hx.storage.root)
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_chunks_become_one_object_only_when_finished(hx: Any, user: Any) -> None:
    grant = grant_for(hx, user)
    upload = hx.artifacts.begin_receive(grant)
    for start in range(0, len(DATA), 7):
        upload.write(DATA[start : start + 7])
    assert upload.received == len(DATA) and not hx.storage.exists(grant.key)
    written = upload.finish()
    assert (written.size, written.sha256) == (len(DATA), hashlib.sha256(DATA).hexdigest())
    assert hx.storage.exists(grant.key)
    with pytest.raises(Conflict):
        hx.artifacts.begin_receive(grant)  # a key takes one upload


def test_every_early_end_leaves_nothing(hx: Any, user: Any) -> None:
    too_many = hx.artifacts.begin_receive(grant := grant_for(hx, user))
    too_many.write(DATA)
    with pytest.raises(PayloadTooLarge) as caught:
        too_many.write(b"!")
    assert grant.artifact_id in caught.value.detail and "users/" not in caught.value.detail

    too_few = hx.artifacts.begin_receive(grant_for(hx, user))
    too_few.write(DATA[:-1])
    with pytest.raises(ValidationFailed) as short:
        too_few.finish()
    assert short.value.errors == [{"loc": ["body"], "msg": f"{len(DATA) - 1} bytes sent, {len(DATA)} declared"}]

    abandoned = hx.artifacts.begin_receive(grant_for(hx, user))
    abandoned.write(DATA[:5])
    abandoned.abort()
    abandoned.abort()
    assert everything(hx) == []
