"""Every (role, control state, control message) of the PPTP control core, from the core's own table
(`control.TRANSITIONS`): a listed cell runs its handler and lands in the state the table names; any other cell is
counted as "unexpected <Message>" and changes nothing (DESIGN.md §10: an exhaustive test for every automaton)."""

from __future__ import annotations

import itertools

import pytest

from rrasctl.protocols.pptp import messages as m
from rrasctl.protocols.pptp.control import TRANSITIONS, ControlConfig, ControlState as S, PptpControl, Role

MESSAGES = list(m.MESSAGES.values())
REACHABLE = {
    Role.PAC: (S.IDLE, S.WAIT_START_REQUEST, S.ESTABLISHED, S.WAIT_STOP_REPLY, S.CLOSED),
    Role.PNS: (S.IDLE, S.WAIT_START_REPLY, S.ESTABLISHED, S.WAIT_STOP_REPLY, S.CLOSED),
}
CASES = [(role, state, cls) for role in Role for state, cls in itertools.product(REACHABLE[role], MESSAGES)]


def core_in(role: Role, state: S) -> PptpControl:
    core = PptpControl(ControlConfig(role, host_name="us"), rng=lambda n: bytes(n))
    if state is S.IDLE:
        return core
    core.start(0.0)
    core.take_output()
    if state in (S.WAIT_START_REQUEST, S.WAIT_START_REPLY):
        return core
    hello = m.StartControlConnectionRequest(host_name="peer") if role is Role.PAC else \
        m.StartControlConnectionReply(host_name="peer")
    core.receive(hello.encode(), 0.0)
    core.take_output()
    if state is S.ESTABLISHED:
        return core
    core.stop(0.0)
    core.take_output()
    if state is S.WAIT_STOP_REPLY:
        return core
    core.connection_lost(0.0)
    assert core.state is S.CLOSED
    return core


def test_the_table_only_names_reachable_cells_and_real_messages():
    for (role, state, cls), transition in TRANSITIONS.items():
        assert state in REACHABLE[role] and state not in (S.IDLE, S.CLOSED), (role, state, cls)
        assert cls in MESSAGES and callable(transition.handler)
        assert transition.to is None or isinstance(transition.to, S)


@pytest.mark.parametrize("role,state,cls", CASES, ids=[f"{r.value}-{s.value}-{c.__name__}" for r, s, c in CASES])
def test_every_role_state_and_message(role, state, cls):
    core = core_in(role, state)
    assert core.state is state
    before = dict(core.stats)
    events = core.receive(cls().encode(), 1.0)
    unexpected = "unexpected " + cls.__name__
    transition = TRANSITIONS.get((role, state, cls))
    if state is S.CLOSED:
        assert events == [] and core.state is S.CLOSED and core.stats["bytes after close"] > before.get(
            "bytes after close", 0)
    elif transition is None:
        assert events == [] and core.state is state
        assert core.stats[unexpected] == before.get(unexpected, 0) + 1
    else:
        want = transition.to if transition.to is not None else state
        assert core.state in (want, S.CLOSED), (core.state, want)
        if core.state is S.CLOSED and want is not S.CLOSED:
            # the handler refused what it got and closed; a closing handler always says why
            assert type(events[-1]).__name__ == "ControlClosed"
