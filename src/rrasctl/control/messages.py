"""The control socket's wire format, shared by `control/client.py` and `engine/control_server.py` (DESIGN.md §8).

Newline-delimited JSON over a Unix stream socket. A client sends one request line; the server answers with zero or
more progress lines and then exactly one final line:

    -> {"v": 1, "id": 7, "op": "demand_dial.connect", "args": {"name": "branch1"}}
    <- {"v": 1, "id": 7, "progress": "verifying user name and password"}
    <- {"v": 1, "id": 7, "ok": true, "result": {"name": "branch1", "state": "connected"}}
    <- {"v": 1, "id": 8, "ok": false, "error": {"kind": "not_found", "message": "no connection 17", "hint": null}}

`error.kind` is `RrasctlError.kind` (errors.py), so the client re-raises the same class and the CLI exits with the
same code. A connection may carry several requests in turn; the CLI sends one and closes.

Imports only json: the CLI imports this module on every engine-backed command.
"""

from __future__ import annotations

import json
from typing import Any

VERSION = 1
MAX_REQUEST = 1 << 20  # 1 MiB: the largest request line the server accepts
MAX_LINE = 64 << 20    # 64 MiB: the largest reply line (`ports show` of a 30,000-port pool is a few MiB)

# Ops and the args each takes (None = no args). The server's handler table must cover exactly these.
OPS: dict[str, tuple[str, ...]] = {
    "status": (),
    "reload": (),
    "ports.list": (),
    "ports.show": ("protocol",),
    "ports.remove_check": ("protocol", "count", "force"),
    "connections.list": (),
    "connections.show": ("id",),
    "connections.disconnect": ("id",),
    "connections.refusals": (),
    "demand_dial.connect": ("name", "wait"),
    "demand_dial.disconnect": ("name",),
    "demand_dial.status": ("name",),
    "users.lockout": (),
    "users.unlock": ("name",),
    "users.remove_check": ("name", "force"),
    "demand_dial.remove_check": ("name", "force"),
}


class BadMessage(ValueError):
    """A line that is not a well-formed control message (the other side's bug or a stranger on the socket)."""


def encode(obj: dict[str, Any]) -> bytes:
    """One message as a single line of compact JSON, newline-terminated."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=True, default=_default).encode() + b"\n"


def _default(obj: Any) -> Any:
    # Tolerate sets, tuples-as-keys-free containers and objects with a to_json(); anything else is a server bug.
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    to_json = getattr(obj, "to_json", None)
    if callable(to_json):
        return to_json()
    return str(obj)


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one line into a dict; BadMessage when it is not a JSON object or has the wrong version."""
    if len(line) > MAX_LINE:
        raise BadMessage("message too long")
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise BadMessage("not a JSON object")
    if obj.get("v") != VERSION:
        raise BadMessage(f"unsupported protocol version {obj.get('v')!r} (this side speaks {VERSION})")
    return obj


def request(req_id: int, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": VERSION, "id": req_id, "op": op, "args": dict(args or {})}


def ok(req_id: Any, result: Any) -> dict[str, Any]:
    return {"v": VERSION, "id": req_id, "ok": True, "result": result}


def error(req_id: Any, kind: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"v": VERSION, "id": req_id, "ok": False, "error": {"kind": kind, "message": message, "hint": hint}}


def progress(req_id: Any, stage: str) -> dict[str, Any]:
    return {"v": VERSION, "id": req_id, "progress": stage}


def parse_request(obj: dict[str, Any]) -> tuple[Any, str, dict[str, Any]]:
    """(id, op, args) of a decoded request; BadMessage when a field has the wrong type."""
    req_id, op, args = obj.get("id"), obj.get("op"), obj.get("args", {})
    if not isinstance(op, str):
        raise BadMessage("request without an op")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadMessage("args must be an object")
    return req_id, op, args
