"""Property: any sequence of valid edits keeps a hand-written comment, and the file loads to what was asked."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from rrasctl.config import store

NAMES = st.sampled_from(["alice", "bob", "carol.x", "d-1"])
EDITS = st.lists(st.one_of(
    st.tuples(st.just("count"), st.sampled_from(["pptp", "l2tp"]), st.integers(0, 1000)),
    st.tuples(st.just("flag"), st.sampled_from(["pptp", "l2tp"]), st.sampled_from(["remote_access", "demand_dial"]),
              st.booleans()),
    st.tuples(st.just("user"), NAMES, st.sampled_from(["allow", "deny", "policy"])),
    st.tuples(st.just("deluser"), NAMES),
    st.tuples(st.just("edition"), st.sampled_from(["web", "standard", "enterprise", "datacenter"])),
), max_size=12)


@settings(max_examples=40, deadline=None)
@given(EDITS)
def test_edits_keep_comments_and_load_as_asked(edits):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "rrasctl.toml"
        p.write_text("# keep me\nschema_version = 1 # version\n")
        expect_ports = {"pptp": [5, True, True], "l2tp": [5, True, True]}
        users: dict[str, str] = {}
        edition = "standard"
        for e in edits:
            with store.edit(p) as ed:
                if e[0] == "count":
                    ed.set(["ports", e[1], "count"], e[2])
                    expect_ports[e[1]][0] = e[2]
                elif e[0] == "flag":
                    ed.set(["ports", e[1], e[2]], e[3])
                    expect_ports[e[1]][1 if e[2] == "remote_access" else 2] = e[3]
                elif e[0] == "user":
                    ed.set(["users", e[1], "dial_in"], e[2])
                    users[e[1]] = e[2]
                elif e[0] == "deluser":
                    ed.delete(["users", e[1]])
                    users.pop(e[1], None)
                else:
                    ed.set("server.edition", e[1])
                    edition = e[1]
            text = p.read_text()
            assert text.startswith("# keep me\nschema_version = 1 # version\n")
            c = store.load(p)
            assert {k: [v.count, v.remote_access, v.demand_dial] for k, v in c.ports.items()} == expect_ports
            assert {k: u.dial_in for k, u in c.users.items()} == users
            assert c.server.edition == edition
