"""Issue 13, hole 10 (a symlinked config was replaced by a regular file, its target left unchanged) and the TOML
error at the end of a file reported as "Unexpected character '\\x00'" (hole 11); decision 0146."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rrasctl.config import store
from rrasctl.errors import RrasctlError, ValidationError


@pytest.fixture
def linked(tmp_path) -> tuple[Path, Path]:
    """/etc-like layout: the config path is a link into another directory."""
    real = tmp_path / "srv" / "rras.toml"
    real.parent.mkdir()
    real.write_text("# kept by hand\nschema_version = 1\n\n[ports.pptp]\ncount = 7 # seven\n")
    os.chmod(real, 0o640)
    link = tmp_path / "etc" / "rrasctl.toml"
    link.parent.mkdir()
    link.symlink_to(os.path.relpath(real, link.parent))
    return link, real


def test_a_symlinked_config_is_written_through_the_link(linked):
    link, real = linked
    with store.edit(link) as e:
        e.set("ports.pptp.count", 9)
    assert link.is_symlink() and os.readlink(link) == "../srv/rras.toml"
    assert real.read_text() == "# kept by hand\nschema_version = 1\n\n[ports.pptp]\ncount = 9 # seven\n"
    assert store.load(link).ports["pptp"].count == 9
    assert os.stat(real).st_mode & 0o777 == 0o640                      # the target keeps its mode
    # the lock file and any temp file live beside the target, never beside the link
    assert sorted(os.listdir(link.parent)) == ["rrasctl.toml"]
    assert sorted(os.listdir(real.parent)) == ["rras.toml", "rras.toml.lock"]


def test_a_chain_of_links_and_a_dangling_link(tmp_path):
    real = tmp_path / "a" / "real.toml"
    real.parent.mkdir()
    hop = tmp_path / "hop.toml"
    hop.symlink_to(real)                               # dangling until the first write
    link = tmp_path / "b" / "rrasctl.toml"
    link.parent.mkdir()
    link.symlink_to(hop)
    with store.edit(link) as e:
        e.set("ports.l2tp.count", 3)
    assert link.is_symlink() and hop.is_symlink() and real.is_file()
    assert store.load(real).ports["l2tp"].count == 3


def test_a_link_loop_is_refused_with_a_message(tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(RrasctlError, match=r"a\.toml is a symbolic link that cannot be followed"):
        with store.edit(a) as e:
            e.set("ports.pptp.count", 2)
    assert a.is_symlink() and b.is_symlink()


def test_atomic_write_follows_links_for_every_caller(linked):
    link, real = linked
    store.atomic_write(link, "schema_version = 1\n")
    assert link.is_symlink() and real.read_text() == "schema_version = 1\n"


def test_the_cli_writes_through_a_symlinked_config(rr, cfg, tmp_path):
    real = tmp_path / "elsewhere" / "real.toml"
    real.parent.mkdir()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.symlink_to(real)
    assert rr("ports", "add", "pptp", "2").exit_code == 0
    assert cfg.is_symlink() and "count = 7" in real.read_text()


@pytest.mark.parametrize("text,where,reason", [
    ("[ports.pptp]\ncount = ", "line 2, column 8", "unexpected end of file: the value after '=' is missing"),
    ("[ports.pptp]\ncount = 3\n[server", "line 3, column 8", "unexpected end of file: a value, a closing bracket"),
    ("[ports]\npptp = {count = 5\n\n\n", "line 2, column 18", "unexpected end of file"),
    ('[server]\nedition = "web', "line 2, column 15", "unexpected end of file"),
    ("[ports.pptp]\ncount = 3\nfoo", "line 3, column 4", "unexpected end of file"),
    ("[ports.pptp]\ncount = \x00\n", "line 2, column 9", "a NUL character (the file is not text)"),
])
def test_an_error_at_the_end_of_the_file_names_a_real_place_and_reason(tmp_path, text, where, reason):
    p = tmp_path / "rrasctl.toml"
    p.write_text(text)
    with pytest.raises(ValidationError) as e:
        store.load(p)
    assert f"TOML syntax error at {where}: {reason}" in e.value.message
    assert "\\x00" not in e.value.message and "\x00" not in e.value.message
