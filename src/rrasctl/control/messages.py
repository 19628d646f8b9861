"""The control socket's wire format, shared by `control/client.py` and `engine/control_server.py` (DESIGN.md §8).

Newline-delimited JSON over a Unix stream socket. A client sends one request line; the server answers with zero or
more progress lines and then exactly one final line:

    -> {"v": 1, "id": 7, "op": "demand_dial.connect", "args": {"name": "branch1"}}
    <- {"v": 1, "id": 7, "progress": "verifying user name and password"}
    <- {"v": 1, "id": 7, "ok": true, "result": {"name": "branch1", "state": "connected"}}
    <- {"v": 1, "id": 8, "ok": false, "error": {"kind": "not_found", "message": "no connection 17", "hint": null}}

`error.kind` is `RrasctlError.kind` (errors.py), so the client re-raises the same class and the CLI exits with the
same code. A connection may carry several requests in turn; the CLI sends one and closes.

Limits (docs/decisions/0142-control-socket-limits.md): a request line is at most `MAX_REQUEST` bytes and nests at
most `MAX_DEPTH` arrays/objects (checked before `json.loads`, so a line of 100,000 `[` is an error reply, not a
RecursionError); the server reads each request within `READ_TIMEOUT_S`, serves at most `MAX_CLIENTS` connections at
once (one more gets a `busy` error reply) and listens with a backlog of `LISTEN_BACKLOG`.

Imports only json: the CLI imports this module on every engine-backed command.
"""

from __future__ import annotations

import json
import re
from typing import Any

VERSION = 1
MAX_REQUEST = 1 << 20  # 1 MiB: the largest request line the server accepts (decision 0023)
MAX_LINE = 64 << 20    # 64 MiB: the largest reply line (`ports show` of a 30,000-port pool is a few MiB)
MAX_DEPTH = 32         # nested arrays/objects in a request (real ones nest 2 deep)
READ_TIMEOUT_S = 10.0  # a connected client must send each request line within this
MAX_CLIENTS = 64       # connections served at once; one more is answered `busy` and closed
LISTEN_BACKLOG = 64    # connections the kernel queues before the server accepts them
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")

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


def nesting(line: bytes | str) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings do not count). Linear, no
    recursion; a text whose brackets do not pair up gets a figure `json.loads` will reject anyway."""
    data = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else bytes(line)
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return data.count(b"[") + data.count(b"{")
    depth = deepest = 0
    for c in _STRING.sub(b"", data).translate(None, _NOT_BRACKETS):
        if c == 0x5B or c == 0x7B:        # [ {
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def decode(line: bytes | str, *, max_depth: int | None = None) -> dict[str, Any]:
    """Parse one line into a dict; BadMessage when it is not a JSON object, nests deeper than `max_depth` (the
    server passes MAX_DEPTH), or has the wrong version."""
    if len(line) > MAX_LINE:
        raise BadMessage("message too long")
    if max_depth is not None and nesting(line) > max_depth:
        raise BadMessage(f"nested deeper than {max_depth} levels")
    try:
        obj = json.loads(line, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not JSON: {exc}") from None
    except RecursionError:          # the client's backstop (replies are not depth-checked)
        raise BadMessage("nested too deeply") from None
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
    if req_id is not None and not isinstance(req_id, (int, str)) or isinstance(req_id, bool):
        raise BadMessage("id must be a number or a string")
    if not isinstance(op, str):
        raise BadMessage("request without an op")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise BadMessage("args must be an object")
    return req_id, op, args
