"""Every command's --help exits 0 and shows an Example:; every data command takes -o/--output."""

from __future__ import annotations

import click
import pytest

from rrasctl.cli import COMMANDS, cli


def walk(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None, name
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from walk(cmd, click.Context(cmd, parent=ctx, info_name=name), (*path, name))


ROOT = click.Context(cli, info_name="rrasctl")
ALL = list(walk(cli, ROOT))
OURS = [(p, c) for p, c in ALL if p[0] != "trace"]  # trace is helper H5's


def test_tree_holds_every_spec_group():
    names = {p[0] for p, _ in ALL}
    assert {"server", "ports", "auth", "users", "policy", "demand-dial", "connections", "engine", "config",
            "dump"} <= names
    assert set(COMMANDS) >= names


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=" ".join)
def test_help_has_an_example(rr, path):
    r = rr(*path, "--help")
    assert r.exit_code == 0
    assert "Example:" in r.stdout and "rrasctl " in r.stdout.split("Example:", 1)[1]


DATA_COMMANDS = {
    ("server", "show"), ("ports", "list"), ("ports", "show"), ("auth", "show"), ("users", "list"), ("users", "show"),
    ("policy", "list"), ("policy", "show"), ("policy", "test"), ("demand-dial", "list"), ("demand-dial", "show"),
    ("demand-dial", "status"), ("demand-dial", "connect"), ("demand-dial", "route", "list"),
    ("connections", "list"), ("connections", "show"), ("connections", "refusals"), ("engine", "status"),
    ("config", "path"),
}


@pytest.mark.parametrize("path", sorted(DATA_COMMANDS), ids=" ".join)
def test_data_commands_take_output(path):
    cmd = dict(ALL)[path]
    opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
    assert {"-o", "--output"} <= opts


def test_a_missing_group_module_is_tolerated(rr, monkeypatch):
    import rrasctl.cli as root

    monkeypatch.setitem(root.COMMANDS, "ghost", "rrasctl.cli.ghost:ghost")
    monkeypatch.setitem(root.SHORT_HELP, "ghost", "not written yet")
    r = rr("--help")
    assert r.exit_code == 0 and "ghost" not in r.stdout and "ports" in r.stdout
    r = rr("ghost")
    assert r.exit_code == 2 and "No such command 'ghost'" in r.stderr
