"""Issue #12 messages: each fixed message exactly, and no Python exception class name in what an operator reads."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from rrasctl.control.client import call
from rrasctl.engine.control_server import ControlServer
from rrasctl.errors import RrasctlError

CLASS_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception|Interrupt|Exit)\b|Traceback")


def test_ports_remove_more_than_the_pool_holds(rr, cfg):
    r = rr("ports", "remove", "pptp", "100")
    assert (r.exit_code, r.stderr) == (2, "error: pptp has only 5 ports; cannot remove 100\n"
                                          "hint: rrasctl ports set pptp --count 0 disables pptp\n")
    assert not cfg.exists()
    assert rr("ports", "set", "l2tp", "--count", "1").exit_code == 0
    r = rr("ports", "remove", "l2tp", "2")
    assert r.stderr.startswith("error: l2tp has only 1 port; cannot remove 2\n")


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("args", [("ports", "list"), ("ports", "add", "pptp"), ("config", "check"),
                                  ("config", "export"), ("engine", "run")])
def test_an_explicit_config_in_a_missing_directory_is_an_error(rr, tmp_path, how, args):
    path = tmp_path / "nonexistent" / "x.toml"
    source = "--config" if how == "flag" else "RRASCTL_CONFIG"
    if how == "flag":
        r = rr("--config", str(path), *args)
    else:
        r = rr(*args, env={"RRASCTL_CONFIG": str(path)})
    assert r.exit_code == 2
    assert r.stderr == (f"error: {source} {path}: the directory {path.parent} does not exist\n"
                        f"hint: create it first (mkdir -p {path.parent}), or give another path\n")
    assert not path.parent.exists()


def test_a_missing_file_in_an_existing_directory_means_the_defaults(rr, tmp_path):
    r = rr("--config", str(tmp_path / "lab.toml"), "ports", "list")
    assert r.exit_code == 0 and r.stdout.startswith("PROTOCOL")
    assert rr("--config", str(tmp_path / "lab.toml"), "ports", "add", "pptp").exit_code == 0
    assert (tmp_path / "lab.toml").exists()


def test_the_default_location_may_not_exist_yet(rr, monkeypatch, tmp_path):
    monkeypatch.delenv("RRASCTL_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "fresh-home" / ".config"))
    assert rr("ports", "list").exit_code == 0
    assert rr("ports", "add", "pptp").exit_code == 0
    assert (tmp_path / "fresh-home" / ".config" / "rrasctl" / "rrasctl.toml").exists()


def test_an_unexpected_failure_names_no_exception_class(rr, monkeypatch):
    import rrasctl.config.store as store

    def boom(path):
        raise KeyError("server")

    monkeypatch.setattr(store, "load", boom)
    r = rr("server", "show")
    assert r.exit_code == 1 and not CLASS_NAME.search(r.stderr), r.stderr
    assert r.stderr.startswith("error: an unexpected internal failure stopped the command ('server')\n")


def test_an_engine_op_that_crashes_answers_without_the_class_name(tmp_path):
    sock_path = tmp_path / "ctl.sock"

    async def boom(args, progress):
        raise ZeroDivisionError("division by zero")

    async def main():
        server = ControlServer(sock_path, {"status": boom})
        await server.start(server.claim())
        try:
            return await asyncio.get_running_loop().run_in_executor(None, _ask, sock_path)
        finally:
            await server.close()

    exc = asyncio.run(main())
    assert exc.message == "internal error in status (the engine's log has the details)"
    assert not CLASS_NAME.search(exc.message)


def _ask(path: Path) -> RrasctlError:
    try:
        call(str(path), "status", timeout=5)
    except RrasctlError as exc:
        return exc
    raise AssertionError("no error")


def test_error_messages_across_the_cli_name_no_exception_class(rr, cfg, tmp_path):
    """A sweep of failing commands: every stderr line is for a person."""
    cfg.write_text("[ports.pptp]\ncount = 'x'\n")
    outs = [rr("ports", "list"), rr("users", "add", "al")]
    cfg.write_text("[ports\n")
    outs += [rr("ports", "list"), rr("config", "check")]
    cfg.unlink()
    outs += [rr("connections", "list"), rr("demand-dial", "connect", "nope"), rr("users", "show", "nobody"),
             rr("ports", "remove", "l2tp", "9"), rr("trace", "decode", str(tmp_path / "absent.pcap")),
             rr("config", "import", str(tmp_path / "absent.toml")), rr("--config", "/nonexistent/x.toml", "dump")]
    for r in outs:
        assert r.exit_code != 0 and r.stderr.startswith(("error: ", "Usage: ")), r.stderr
        assert not CLASS_NAME.search(r.stderr), r.stderr
    assert os.environ["RRASCTL_CONFIG"] == str(cfg)
