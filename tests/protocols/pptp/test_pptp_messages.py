"""PPTP control message codecs on the real captures (Windows RRAS, pptp-linux, Windows 2000, Poptop)."""

from __future__ import annotations

import pytest

import pptp_captures as cap
from rrasctl.protocols.base import Malformed
from rrasctl.protocols.pptp import messages as m

RRAS = "pptp-ctrl-linux-to-windows-rras.pcap"
POPTOP = "pptp-win2000-poptop-mschapv2-mppe128.pcap"


def _messages(name: str) -> list[tuple[str, str, bytes]]:
    return [(f.src, f.dst, raw) for f in cap.tcp_flows(name) for raw in cap.split_messages(f.data)]


def test_rras_capture_decodes_every_message_with_its_fields():
    decoded = [(src, m.decode(raw)) for src, _dst, raw in _messages(RRAS)]
    client, server = "192.168.43.22", "191.101.61.1"
    assert decoded == [
        (client, m.StartControlConnectionRequest(version=0x0100, framing=3, bearer=3, max_channels=65535,
                                                 firmware=1, host_name="local", vendor="cananian")),
        (client, m.OutgoingCallRequest(call_id=0, call_serial=0, min_bps=2400, max_bps=10_000_000, bearer=3,
                                       framing=3, recv_window=3, processing_delay=0)),
        (client, m.CallClearRequest(call_id=0)),
        (server, m.StartControlConnectionReply(version=0x0100, result=m.SccrpResult.SUCCESS, error=0, framing=2,
                                               bearer=3, max_channels=0, firmware=0, host_name="",
                                               vendor="Microsoft")),
        (server, m.OutgoingCallReply(call_id=11755, peer_call_id=0, result=m.OcrpResult.CONNECTED, error=0, cause=0,
                                     connect_speed=14945108, recv_window=16384, processing_delay=0,
                                     physical_channel_id=0)),
        (server, m.SetLinkInfo(peer_call_id=0, send_accm=0, recv_accm=0xFFFFFFFF)),
        (server, m.SetLinkInfo(peer_call_id=0, send_accm=0xFFFFFFFF, recv_accm=0xFFFFFFFF)),
        (server, m.CallDisconnectNotify(call_id=0, result=0, error=0, cause=0, call_statistics="")),
    ]


def test_poptop_capture_decodes_every_message_with_its_fields():
    decoded = {type(msg).__name__ + "@" + src: msg
               for src, _d, raw in _messages(POPTOP) for msg in [m.decode(raw)]}
    sccrq = decoded["StartControlConnectionRequest@192.168.1.3"]
    assert (sccrq.version, sccrq.framing, sccrq.bearer, sccrq.firmware, sccrq.host_name) == (0x0100, 1, 1, 2195, "")
    assert decoded["StartControlConnectionReply@192.168.1.1"] == m.StartControlConnectionReply(
        result=1, error=0, framing=0, bearer=0, max_channels=1, firmware=1, host_name="local", vendor="MoretonBay")
    assert decoded["OutgoingCallRequest@192.168.1.3"] == m.OutgoingCallRequest(
        call_id=0, call_serial=49611, min_bps=300, max_bps=100_000_000, bearer=3, framing=3, recv_window=64)
    assert decoded["OutgoingCallReply@192.168.1.1"] == m.OutgoingCallReply(
        call_id=4, peer_call_id=0, result=1, connect_speed=100_000_000, recv_window=64)
    slis = [m.decode(raw) for src, _d, raw in _messages(POPTOP) if raw[9] == m.ControlType.SET_LINK_INFO]
    assert slis == [m.SetLinkInfo(peer_call_id=4, send_accm=0xFFFFFFFF, recv_accm=0xFFFFFFFF),
                    m.SetLinkInfo(peer_call_id=4, send_accm=0, recv_accm=0xFFFFFFFF)]


@pytest.mark.parametrize("name", [RRAS, POPTOP])
def test_capture_messages_reencode_byte_for_byte_where_the_peer_zeroed_reserved_fields(name):
    same = 0
    for _s, _d, raw in _messages(name):
        msg = m.decode(raw)
        assert len(raw) == msg.SIZE
        if msg.encode() == raw:
            same += 1
        else:  # RRAS leaves garbage in SLI Reserved1; Windows 2000 uninitialised bytes after the NUL in SCCRQ
            assert m.decode(msg.encode()) == msg
    assert same == {RRAS: 6, POPTOP: 5}[name]


@pytest.mark.parametrize("cls", list(m.MESSAGES.values()), ids=lambda c: c.__name__)
def test_every_message_round_trips_and_rejects_every_truncation(cls):
    msg = cls()
    raw = msg.encode()
    assert len(raw) == cls.SIZE and raw[:2] == cls.SIZE.to_bytes(2, "big")
    assert raw[2:8] == bytes.fromhex("00011a2b3c4d") and raw[8:10] == cls.TYPE.to_bytes(2, "big")
    assert m.decode(raw) == msg
    for n in range(len(raw)):
        with pytest.raises(Malformed):
            m.decode(raw[:n])
    with pytest.raises(Malformed, match="trailing"):
        m.decode(raw + b"\0")


def test_fields_land_at_the_rfc_offsets():
    raw = m.OutgoingCallReply(call_id=0x1234, peer_call_id=0x5678, result=m.OcrpResult.BUSY, error=4, cause=9,
                              connect_speed=7, recv_window=32, processing_delay=2, physical_channel_id=5).encode()
    assert raw.hex() == ("00200001" "1a2b3c4d" "00080000" "1234" "5678" "04" "04" "0009" "00000007" "0020" "0002"
                         "00000005")
    cdn = m.CallDisconnectNotify(call_id=3, result=m.CdnResult.ADMIN_SHUTDOWN, call_statistics="x").encode()
    assert len(cdn) == 148 and cdn[12:20].hex() == "0003030000000000" and cdn[20:22] == b"x\0"
    assert m.decode(cdn).call_statistics == "x"
    sccrq = m.StartControlConnectionRequest(host_name="h" * 80, vendor="v").encode()
    assert sccrq[28:92] == b"h" * 64 and sccrq[92:93] == b"v"


def test_header_checks():
    good = m.EchoRequest(identifier=7).encode()
    with pytest.raises(Malformed, match="bad magic cookie"):
        m.decode(good[:4] + b"\x1a\x2b\x3c\x4e" + good[8:])
    with pytest.raises(Malformed, match="not a control message"):
        m.decode(good[:2] + b"\x00\x02" + good[4:])
    with pytest.raises(Malformed, match="unknown control message type"):
        m.decode(good[:8] + b"\x00\x10" + good[10:])
    with pytest.raises(Malformed, match="wrong length"):
        m.decode(b"\x00\x14" + good[2:] + b"\0\0\0\0")          # an Echo-Request claiming 20 octets
    with pytest.raises(Malformed, match="bad control length"):
        m.decode(b"\x00\x0c" + good[2:12])
    assert m.decode(good) == m.EchoRequest(identifier=7)


def test_result_codes_are_the_rfc_numbers():
    assert (m.OcrpResult.BUSY, m.OcrpResult.DO_NOT_ACCEPT, m.OcrpResult.GENERAL_ERROR) == (4, 7, 2)
    assert (m.CdnResult.LOST_CARRIER, m.CdnResult.ADMIN_SHUTDOWN, m.CdnResult.REQUEST) == (1, 3, 4)
    assert (m.GeneralError.NO_RESOURCE, m.GeneralError.BAD_CALL_ID, m.GeneralError.PAC_ERROR) == (4, 5, 6)
    assert (m.SccrpResult.BAD_PROTOCOL_VERSION, m.StopReason.STOP_LOCAL_SHUTDOWN) == (5, 3)
    assert m.IcrpResult.DO_NOT_ACCEPT == 3
