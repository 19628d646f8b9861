"""Output details: rich tables on a TTY (no colour codes under NO_COLOR), effective export round trip."""

from __future__ import annotations

import json

from rrasctl.cli import _output
from rrasctl.config import store
from rrasctl.config.model import to_plain


def test_tty_gets_a_rich_table_without_colour(rr, monkeypatch):
    monkeypatch.setattr(_output, "_is_tty", lambda: True)
    r = rr("ports", "list")
    assert r.exit_code == 0
    assert "┃ PROTOCOL ┃ COUNT ┃" in r.stdout or "PROTOCOL" in r.stdout.splitlines()[1]
    assert any(ch in r.stdout for ch in "┏━│┃")
    assert "\x1b[" not in r.stdout


def test_pipe_gets_plain_text_and_json_is_one_document(rr):
    r = rr("server", "show")
    assert r.stdout.splitlines()[0].split() == ["edition", "standard"]
    assert not any(ch in r.stdout for ch in "┏━│┃")
    doc = json.loads(rr("server", "show", "-o", "json").stdout)
    assert list(doc)[:2] == ["edition", "max_concurrent"]


def test_effective_export_loads_back_to_the_same_config(rr, cfg, tmp_path):
    assert rr("users", "add", "al", "--route", "10.1.0.0/16", "--dial-in", "allow").exit_code == 0
    assert rr("demand-dial", "add", "b", "--destination", "h", "--user", "u", "--route", "10.2.0.0/16/3").exit_code == 0
    assert rr("policy", "add", "p", "--permission", "grant", "--tunnel-type", "l2tp").exit_code == 0
    text = rr("config", "export", "--effective").stdout
    out = tmp_path / "eff.toml"
    out.write_text(text)
    assert to_plain(store.load(out)) == to_plain(store.load(cfg))
    assert "[ports.pptp]" in text and "count = 5" in text
