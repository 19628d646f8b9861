"""Settings a running engine applies only when it starts (decision 0122), and the changes waiting for that restart.

The listeners are bound to `server.listen_address`, the TUN device is created as `server.tun_name` and holds
`server.tunnel_address` (which IPCP also claims): a reload cannot change them under live sessions. A reload keeps
their running values (`hold_restart_only`), and `pending()` lists every one whose saved value differs, for the
reload's answer (the CLI then says which setting needs a restart instead of "applied") and for `engine status`.
Everything else in the configuration is applied by a reload (decision 0025). Pure.
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: (section, key, why it needs a restart)
RESTART_ONLY: tuple[tuple[str, str, str], ...] = (
    ("server", "listen_address", "the PPTP and L2TP listeners are bound to it"),
    ("server", "tunnel_address", "the TUN device holds it and every new call claims it in IPCP"),
    ("server", "tun_name", "the TUN device is created under that name"),
)


def hold_restart_only(running: Any, new: Any) -> Any:
    """NEW, with RUNNING's values for the restart-only keys (the engine goes on with what it started with)."""
    held = {key: getattr(running.server, key) for section, key, _ in RESTART_ONLY if section == "server"}
    return dataclasses.replace(new, server=dataclasses.replace(new.server, **held))


def pending(running: Any, saved: Any) -> list[dict[str, Any]]:
    """[{key, running, saved, why}] for each restart-only key whose SAVED value differs from the RUNNING one."""
    out = []
    for section, key, why in RESTART_ONLY:
        now, then = getattr(getattr(running, section), key), getattr(getattr(saved, section), key)
        if now != then:
            out.append({"key": f"{section}.{key}", "running": now, "saved": then, "why": why})
    return out


def describe(items: list[dict[str, Any]]) -> str:
    """One line: `server.tunnel_address (running 10.87.0.1, saved 10.88.0.1), ...`."""
    return ", ".join(f"{i['key']} (running {i['running']}, saved {i['saved']})" for i in items)
