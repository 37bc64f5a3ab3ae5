"""The storage quota the upload routes check (objects, images): `MARID_USER_QUOTA`,
usage read from the read models."""

from __future__ import annotations

from litestar.datastructures import State

from application.quotas import Quota
from projections.usage import ReadModelStorageUsage


def provide_quota(state: State) -> Quota:
    marid = state.marid
    return Quota(marid.settings.user_quota, ReadModelStorageUsage(marid.datastore))
