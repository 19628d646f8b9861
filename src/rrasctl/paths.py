"""Where rrasctl keeps things: config file, secrets key, state dir, control socket.

Precedence (SPEC §2, §6): ``--config`` > ``RRASCTL_CONFIG`` > platformdirs user config dir
(``…/rrasctl/rrasctl.toml``); the key file ``rrasctl.key`` sits beside the config; the state dir is
``RRASCTL_STATE_DIR`` > ``/var/lib/rrasctl`` for root > platformdirs user state dir; the socket is
``RRASCTL_SOCKET`` > ``<state dir>/control.sock``. See docs/decisions/0003-state-dir-for-root.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CONFIG_NAME = "rrasctl.toml"
KEY_NAME = "rrasctl.key"
SOCKET_NAME = "control.sock"
ROOT_STATE_DIR = "/var/lib/rrasctl"


@dataclass(frozen=True)
class Paths:
    config: Path
    key: Path
    state_dir: Path
    socket: Path
    explicit: bool = False      # the config path came from --config or RRASCTL_CONFIG (decision 0123)

    @property
    def lock(self) -> Path:
        """The sibling lock file held across every read-modify-write of the config."""
        return self.config.with_name(self.config.name + ".lock")

    def as_dict(self) -> dict[str, str]:
        return {"config": str(self.config), "key": str(self.key), "state_dir": str(self.state_dir),
                "socket": str(self.socket)}


def resolve(config: str | os.PathLike | None = None) -> Paths:
    """The paths in use, given the ``--config`` flag (or None)."""
    if config is None:
        config = os.environ.get("RRASCTL_CONFIG") or None
    explicit = config is not None
    if config is None:
        import platformdirs

        cfg = Path(platformdirs.user_config_dir("rrasctl", appauthor=False)) / CONFIG_NAME
    else:
        cfg = Path(config).expanduser()
    cfg = Path(os.path.abspath(cfg))
    state = os.environ.get("RRASCTL_STATE_DIR") or None
    if state is None:
        if os.geteuid() == 0:
            state = ROOT_STATE_DIR
        else:
            import platformdirs

            state = platformdirs.user_state_dir("rrasctl", appauthor=False)
    state_dir = Path(os.path.abspath(Path(state).expanduser()))
    sock = os.environ.get("RRASCTL_SOCKET") or None
    socket = Path(os.path.abspath(Path(sock).expanduser())) if sock else state_dir / SOCKET_NAME
    return Paths(config=cfg, key=cfg.with_name(KEY_NAME), state_dir=state_dir, socket=socket, explicit=explicit)
