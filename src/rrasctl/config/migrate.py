"""``schema_version`` upgrades: one function per step, applied in order to a TOML document in place.

Version 0 is a file without ``schema_version`` (hand-written, or written before the key existed); version 1 is
the current layout. A file from a newer rrasctl is refused, never rewritten. ``load`` migrates a copy in memory;
``edit`` writes the migrated document (SPEC §2: "older files are migrated on write").
"""

from __future__ import annotations

from typing import Any, Callable, MutableMapping

from rrasctl.errors import ValidationError

CURRENT = 1


def _v0_to_v1(doc: MutableMapping[str, Any]) -> None:
    # v0 allowed `server.pool`; v1 calls it `server.address_pool`.
    server = doc.get("server")
    if isinstance(server, MutableMapping) and "pool" in server and "address_pool" not in server:
        server["address_pool"] = server["pool"]
        del server["pool"]
    _set_version(doc, 1)


def _set_version(doc: MutableMapping[str, Any], version: int) -> None:
    if "schema_version" in doc:
        doc["schema_version"] = version
        return
    body = getattr(doc, "body", None)
    if body is not None:  # a tomlkit document: put the key before the first key or table, after a header comment
        idx = next((i for i, (k, _) in enumerate(body) if k is not None), len(body))
        if idx < len(body):
            doc._insert_at(idx, "schema_version", version)  # type: ignore[attr-defined]
        else:
            doc.add("schema_version", version)  # type: ignore[attr-defined]
        return
    doc["schema_version"] = version


STEPS: dict[int, Callable[[MutableMapping[str, Any]], None]] = {0: _v0_to_v1}


def version_of(doc: MutableMapping[str, Any]) -> int:
    v = doc.get("schema_version", 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValidationError(f"schema_version: {v!r} is not a version number")
    if v > CURRENT:
        raise ValidationError(f"schema_version: {v} is newer than this rrasctl reads ({CURRENT})",
                              hint="upgrade rrasctl; the file was left untouched")
    return v


def migrate(doc: MutableMapping[str, Any]) -> bool:
    """Upgrade DOC in place to CURRENT; True if anything changed."""
    v = version_of(doc)
    changed = False
    while v < CURRENT:
        STEPS[v](doc)
        v += 1
        changed = True
    return changed
