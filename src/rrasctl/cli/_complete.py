"""Dynamic shell completion of the names an operator types most (click's `shell_complete=` on the arguments).

Names of demand-dial interfaces, users and policies come from the config file; connection ids from the running
engine (0.5 s timeout: no engine, no ids, no wait). The static scripts in completions/ call back into rrasctl
(`_RRASCTL_COMPLETE=bash_complete` etc.) only at these positions (docs/decisions/0165). Every failure yields no
candidates: completion must never print an error into the operator's command line.

Nothing heavy at import time: the group modules import this at start-up.
"""

from __future__ import annotations

from typing import Any

CONNECTION_TIMEOUT_S = 0.5


def _config(ctx: Any) -> Any:
    from rrasctl import paths
    from rrasctl.config import store

    root = ctx.find_root()
    return store.load(paths.resolve(root.params.get("config_path")).config)


def _names(ctx: Any, incomplete: str, pick) -> list[Any]:
    try:
        names = pick(_config(ctx))
    except Exception:  # an unreadable or invalid config: no candidates, no noise
        return []
    return [n for n in sorted(names) if n.startswith(incomplete)]


def demand_dial_names(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    return _names(ctx, incomplete, lambda c: c.demand_dial)


def user_names(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    return _names(ctx, incomplete, lambda c: c.users)


def policy_names(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    return _names(ctx, incomplete, lambda c: [p.name for p in c.policies])


def connection_ids(ctx: Any, param: Any, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    try:
        from rrasctl import paths
        from rrasctl.control.client import call

        root = ctx.find_root()
        rows = call(str(paths.resolve(root.params.get("config_path")).socket), "connections.list",
                    timeout=CONNECTION_TIMEOUT_S) or []
    except Exception:  # no engine, a slow engine, a bad socket: no candidates
        return []
    out = []
    for r in rows:
        cid = str(r.get("id"))
        if cid.startswith(incomplete):
            who = r.get("user") or r.get("interface") or "-"
            out.append(CompletionItem(cid, help=f"{r.get('port')} {who} {r.get('peer')}"))
    return out
