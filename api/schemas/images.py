"""Image shapes. Creation takes JSON, a raw QCOW2 body or a multipart form (see the controller)."""

from __future__ import annotations

import msgspec

from api.schemas.namespaces import NamespaceOut
from api.schemas.users import UserOut


class ImageCreate(msgspec.Struct):
    """The JSON form: the image is fetched from `download_url` in the background."""

    name: str | None = None
    namespace: str | None = None
    download_url: str | None = None


class DownloadOut(msgspec.Struct):
    source: str
    error: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class ImageOut(msgspec.Struct):
    id: int
    author_id: int
    user_id: int
    namespace_id: int | None
    driver: str
    name: str
    created_at: str | None
    url: str
    author: UserOut
    user: UserOut
    namespace: NamespaceOut | None
    download: DownloadOut | None
