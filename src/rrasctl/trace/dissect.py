"""Captured frames -> rows, with the engine's own codecs (SPEC §8).

`Dissector.feed(number, packet)` returns the rows of one captured frame: usually one, more when a TCP segment
carries several PPTP control messages. It finds
- PPTP control messages on TCP 1723 (a light per-direction stream reassembly that drops retransmissions),
  decoded by `protocols.pptp.messages`;
- enhanced GRE (IP protocol 47, RFC 2637 §4.1: payload length + call id key, sequence, acknowledgement) carrying PPP;
- L2TP on UDP 1701: data messages (optional length, sequence, offset and priority, RFC 2661 §3.1) carrying PPP, and
  control messages decoded by `protocols.l2tp.messages` (hidden AVPs with `l2tp_secret`; with the secret, the
  Challenge Response AVPs of SCCRP/SCCCN are verified, RFC 2661 §4.2);
- PPP frames seen directly (PPP link types, PPPoE sessions, Windows NDISWAN captures);
- IKE messages decoded by `trace.ike` (payloads, proposals, vendor IDs, NAT-D; a PSK checked against Aggressive
  Mode); ESP headers (SPI, sequence), and given ESP keys (`esp`, trace/esp.py), ESP frames, plain and
  UDP-encapsulated, are decrypted and their payload decoded as if it were the IP payload (L2TP/PPP inside);
- all of the above inside IP-in-IP (protocol 4) and IPv6/IPv4-in-IPv6 (41) tunnels (`trace/encap.py`).
PPP frames go to one `PppTrace` per link (both directions of a GRE call or an L2TP tunnel between two addresses),
which verifies MS-CHAP and decrypts MPPE given the password.

Every row has `frame`, `time` (seconds since the first frame), `src`, `dst`, `tunnel`, `protocol`, `message`,
`fields` (a dict of key fields) and `error` (None, or why the frame did not decode: a malformed row).
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from rrasctl.protocols.base import Malformed
from rrasctl.protocols.wire import Reader
from rrasctl.trace import encap, layers
from rrasctl.trace.pcap import Packet
from rrasctl.trace.pppview import Decoded, PppTrace, Stats

PPTP_PORT, L2TP_PORT, IKE_PORT, NATT_PORT = 1723, 1701, 500, 4500
GRE_PPP = 0x880B


@dataclass(frozen=True, slots=True)
class Row:
    frame: int
    time: float
    src: str
    dst: str
    tunnel: str
    protocol: str
    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "time": round(self.time, 6), "src": self.src, "dst": self.dst,
                "tunnel": self.tunnel, "protocol": self.protocol, "message": self.message,
                "fields": dict(self.fields), "error": self.error}


@dataclass
class _Flow:
    next_seq: int | None = None
    buf: bytearray = field(default_factory=bytearray)


@dataclass
class Summary:
    frames: int = 0
    rows: int = 0
    malformed: int = 0
    fragments_pending: int = 0
    tcp_gaps: int = 0
    ppp: Stats = field(default_factory=Stats)
    l2tp_verified: int = 0
    l2tp_not_verified: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"frames": self.frames, "rows": self.rows, "malformed": self.malformed,
                "fragments_pending": self.fragments_pending, "tcp_gaps": self.tcp_gaps,
                "auth_verified": self.ppp.verified, "auth_not_verified": self.ppp.not_verified,
                "mppe_decrypted": self.ppp.decrypted, "mppe_not_decrypted": self.ppp.undecrypted,
                "l2tp_auth_verified": self.l2tp_verified, "l2tp_auth_not_verified": self.l2tp_not_verified}


class Dissector:
    """Feed frames in capture order; read `rows` from each call, `decrypted` and `summary` at the end."""

    def __init__(self, password: str | None = None, l2tp_secret: bytes | None = None,
                 sink: Callable[[int, bool, bytes], None] | None = None, esp: Any = None,
                 ike_psk: bytes | None = None) -> None:
        from rrasctl.trace.ike import IkeView

        self.ike = IkeView(ike_psk)                     # IKE rows; PSK checks counted in .verified/.not_verified
        self._password = password
        self.esp = esp                                     # trace.esp.EspKeyring, or None: ESP stays opaque
        self._l2tp_secret = l2tp_secret
        self.summary = Summary()
        self._t0: int | None = None
        self._reassembler = layers.Reassembler()
        self._links: dict[Any, PppTrace] = {}
        self._flows: dict[tuple, _Flow] = {}
        self._l2tp_challenges: dict[tuple, bytes] = {}
        # (receiver, the receiver's call id) or (receiver, its tunnel id, its session id) -> the link's key, learnt
        # from call replies (PPTP OCRP/ICRP, L2TP ICRP/OCRP), so calls between the same two hosts stay apart
        self._calls: dict[tuple, tuple] = {}
        self._l2tp_tunnel_ids: dict[tuple, int] = {}      # (sender, receiver) endpoint -> sender's tunnel id
        #: (ts_ns, outbound, clear PPP frame) of every decrypted MPPE frame, in capture order, unless a `sink`
        #: (called with the same three values) takes them as they come, e.g. a pcap writer
        self.decrypted: list[tuple[int, bool, bytes]] = []
        self._sink = sink or (lambda ts, outbound, frame: self.decrypted.append((ts, outbound, frame)))
        self.decrypted_count = 0

    # ------------------------------------------------------------------ entry point
    def feed(self, number: int, pkt: Packet) -> list[Row]:
        if self._t0 is None:
            self._t0 = pkt.ts_ns
        self.summary.frames += 1
        ctx = _Ctx(number, (pkt.ts_ns - self._t0) / 1e9, pkt.ts_ns)
        try:
            rows = self._frame(ctx, pkt)
        except Malformed as exc:
            rows = [ctx.row("?", "malformed", error=exc.reason)]
        self.summary.rows += len(rows)
        self.summary.malformed += sum(1 for r in rows if r.error)
        self.summary.fragments_pending = self._reassembler.incomplete
        return rows

    def _frame(self, ctx: "_Ctx", pkt: Packet) -> list[Row]:
        link = layers.decode_link(pkt.linktype, pkt.data)
        if link.kind == "other":
            ctx.src, ctx.dst = link.src, link.dst
            return [ctx.row(link.name, layers.arp_summary(link.payload) if link.name == "ARP" else "")]
        if link.kind == "ppp":
            src = link.src or ("local" if link.outbound else "remote")
            dst = link.dst or ("remote" if link.outbound else "local")
            ctx.src, ctx.dst = src, dst
            return [self._ppp(ctx, ("ppp", pkt.interface), link.payload, src)]
        ip, raw = encap.peel(link.payload, self._reassembler, ctx.encap)   # IP-in-IP (4), IPv6 (41)
        ctx.src, ctx.dst = ip.src, ip.dst
        if ip.fragment:
            return [ctx.row(f"IPv{ip.version}", "fragment (not reassembled yet)")]
        if ip.protocol == layers.IPPROTO_GRE:
            return [self._gre(ctx, ip)]
        if ip.protocol == layers.IPPROTO_UDP:
            return [self._udp(ctx, ip, layers.decode_udp(ip.payload))]
        if ip.protocol == layers.IPPROTO_TCP:
            return self._tcp(ctx, ip, layers.decode_tcp(ip.payload))
        if ip.protocol == layers.IPPROTO_ESP:
            return [self._esp(ctx, ip.payload, ip=ip)]
        return [ctx.row(layers.IP_PROTOCOL_NAMES.get(ip.protocol, f"IP proto {ip.protocol}"),
                        layers.ip_summary(raw) if ip.protocol in (1, 58) else "")]

    # ------------------------------------------------------------------ PPP
    def _ppp(self, ctx: "_Ctx", key: Any, frame: bytes, sender: str) -> Row:
        trace = self._links.get(key)
        if trace is None:
            trace = self._links[key] = PppTrace(self._password, self.summary.ppp)
        d: Decoded = trace.decode(frame, sender)
        if d.decrypted is not None:
            self.decrypted_count += 1
            self._sink(ctx.ts_ns, trace.outbound(sender), d.decrypted)
        return ctx.row(d.protocol, d.message, d.fields, error=d.error)

    # ------------------------------------------------------------------ GRE (RFC 2637 §4.1)
    def _gre(self, ctx: "_Ctx", ip: layers.IpPacket) -> Row:
        from rrasctl.protocols.pptp import gre

        r = Reader(ip.payload, "GRE header")
        _b0, b1, ptype = r.u8(), r.u8(), r.u16()
        version = b1 & 0x07
        if version != 1 or ptype != gre.PPP_PROTOCOL_TYPE:     # plain GRE (RFC 2784), not PPTP's
            ctx.tunnel = f"gre v{version}"
            return ctx.row("GRE", f"protocol 0x{ptype:04x}", {"version": version})
        header, payload = gre.decode(ip.payload)
        parts = [f"call={header.call_id}"]
        fields: dict[str, Any] = {"call_id": header.call_id}
        for name in ("seq", "ack"):
            value = getattr(header, name)
            if value is not None:
                fields[name] = value
                parts.append(f"{name}={value}")
        ctx.tunnel = "gre " + " ".join(parts)
        if not header.payload_length:
            return ctx.row("GRE", "ack only" if header.ack is not None else "empty", fields)
        key = self._calls.get((ip.dst, header.call_id)) or ("gre", frozenset((ip.src, ip.dst)))
        return self._ppp(ctx, key, bytes(payload), ip.src)

    # ------------------------------------------------------------------ UDP: L2TP, IKE, ESP-in-UDP
    def _udp(self, ctx: "_Ctx", ip: layers.IpPacket, udp: layers.Udp) -> Row:
        ports = (udp.sport, udp.dport)
        if L2TP_PORT in ports:
            return self._l2tp(ctx, ip, udp)
        if NATT_PORT in ports:
            if udp.payload == b"\xff":
                return ctx.row("UDPENCAP", "NAT-keepalive")
            if udp.payload[:4] == b"\0\0\0\0":
                return self._ike(ctx, udp.payload[4:], ip, udp)
            return self._esp(ctx, udp.payload, encap=True, ip=ip)
        if IKE_PORT in ports:
            return self._ike(ctx, udp.payload, ip, udp)
        return ctx.row("UDP", f"{udp.sport} → {udp.dport}", {"length": len(udp.payload)})

    def _l2tp(self, ctx: "_Ctx", ip: layers.IpPacket, udp: layers.Udp) -> Row:
        data = udp.payload
        r = Reader(data, "L2TP header")
        flags = r.u16()
        if flags & 0x000F != 2:
            ctx.tunnel = "l2tp"
            return ctx.row("L2TP", f"version {flags & 0x000F}", {})
        if flags & 0x8000:
            return self._l2tp_control(ctx, ip, udp)
        from rrasctl.protocols.l2tp.data import decode_data

        h = decode_data(data)
        parts = [f"tunnel={h.tunnel_id}", f"session={h.session_id}"]
        if h.ns is not None:
            parts += [f"Ns={h.ns}", f"Nr={h.nr}"]
        if h.priority:
            parts.append("P")
        ctx.tunnel = "l2tp " + " ".join(parts)
        payload = data[h.payload_offset:h.length if h.length is not None else len(data)]
        if not payload:
            return ctx.row("L2TP", "data (empty)", {})
        key = self._calls.get(((ip.dst, udp.dport), h.tunnel_id, h.session_id)) or \
            ("l2tp", frozenset(((ip.src, udp.sport), (ip.dst, udp.dport))))
        return self._ppp(ctx, key, payload, f"{ip.src}:{udp.sport}")

    def _l2tp_control(self, ctx: "_Ctx", ip: layers.IpPacket, udp: layers.Udp) -> Row:
        from rrasctl.protocols.l2tp import messages as l2tp

        fields: dict[str, Any] = {}
        try:
            msg = l2tp.decode_control(udp.payload, self._l2tp_secret)
        except Malformed as exc:
            if not exc.reason.startswith("hidden AVP"):
                raise
            # no secret, or the wrong one: show the message without its hidden AVPs, and name them
            clear, hidden = _without_hidden_avps(udp.payload)
            msg = l2tp.decode_control(clear, None)
            fields["hidden_avps"] = [_hidden_name(t) for t in hidden]
            if self._l2tp_secret is not None:
                fields["hidden_avps_error"] = exc.reason
        ctx.tunnel = f"l2tp tunnel={msg.tunnel_id} session={msg.session_id} Ns={msg.ns} Nr={msg.nr}"
        for avp in msg.avps[1:]:
            try:
                value = avp.decoded()
            except Malformed:
                value = avp.value
            fields[_snake(avp.name) + ("_hidden" if avp.hidden and self._l2tp_secret is None else "")] = \
                _plain(value)
        self._l2tp_auth(ctx, ip, udp, msg, fields)
        self._l2tp_learn(ip, udp, msg)
        return ctx.row("L2TP", msg.name, fields)

    def _l2tp_learn(self, ip: layers.IpPacket, udp: layers.Udp, msg: Any) -> None:
        """Pair the two directions of an L2TP session: SCCRQ/SCCRP name each side's tunnel id, and a call reply
        (ICRP, OCRP) carries the receiver's ids in its header and the sender's session id in an AVP."""
        from rrasctl.protocols.l2tp.avp import AvpType, MessageType

        sender, receiver = (ip.src, udp.sport), (ip.dst, udp.dport)
        kind = msg.message_type
        if kind in (MessageType.SCCRQ, MessageType.SCCRP):
            tunnel = msg.get(AvpType.ASSIGNED_TUNNEL_ID)
            if isinstance(tunnel, int):
                self._l2tp_tunnel_ids[(sender, receiver)] = tunnel
        elif kind in (MessageType.ICRP, MessageType.OCRP):
            session = msg.get(AvpType.ASSIGNED_SESSION_ID)
            tunnel = self._l2tp_tunnel_ids.get((sender, receiver))
            if isinstance(session, int) and tunnel is not None:
                key = ("l2tp", sender, tunnel, session, receiver, msg.tunnel_id, msg.session_id)
                self._calls[(sender, tunnel, session)] = key
                self._calls[(receiver, msg.tunnel_id, msg.session_id)] = key

    def _l2tp_auth(self, ctx, ip, udp, msg, fields: dict[str, Any]) -> None:
        """RFC 2661 §4.2 tunnel authentication: the Challenge Response in SCCRP/SCCCN answers the other side's
        Challenge, MD5(message type ‖ secret ‖ challenge). Verified only when the secret is given."""
        from rrasctl.protocols.l2tp import avp as l2tp_avp

        pair = frozenset(((ip.src, udp.sport), (ip.dst, udp.dport)))
        challenge = msg.get(l2tp_avp.AvpType.CHALLENGE)
        response = msg.get(l2tp_avp.AvpType.CHALLENGE_RESPONSE)
        if response is not None and self._l2tp_secret is not None:
            theirs = self._l2tp_challenges.get((pair, ip.dst))
            if theirs is not None and msg.message_type in (2, 3):  # SCCRP, SCCCN (RFC 2661 §4.2)
                ok = l2tp_avp.challenge_response(msg.message_type, self._l2tp_secret, theirs) == bytes(response)
                fields["verification"] = "verified" if ok else "NOT verified"
                if ok:
                    self.summary.l2tp_verified += 1
                else:
                    self.summary.l2tp_not_verified += 1
        if challenge is not None:
            self._l2tp_challenges[(pair, ip.src)] = bytes(challenge)

    def _ike(self, ctx: "_Ctx", data: bytes, ip: layers.IpPacket, udp: layers.Udp) -> Row:
        protocol, message, fields = self.ike.decode(data, (ip.src, udp.sport), (ip.dst, udp.dport))
        return ctx.row(protocol, message, fields)

    def _esp(self, ctx: "_Ctx", data: bytes, encap: bool = False, ip: layers.IpPacket | None = None) -> Row:
        r = Reader(data, "ESP header")
        spi, seq = r.u32(), r.u32()
        fields = {"spi": f"0x{spi:08x}", "seq": seq}
        if self.esp is not None and ip is not None:
            from rrasctl.trace.esp import decrypted_row

            return decrypted_row(self.esp, ctx, ip, data, fields, encap, self._udp)
        return ctx.row("ESP", "UDP-encapsulated" if encap else "", fields)

    # ------------------------------------------------------------------ TCP: PPTP control connection
    def _tcp(self, ctx: "_Ctx", ip: layers.IpPacket, tcp: layers.Tcp) -> list[Row]:
        if PPTP_PORT not in (tcp.sport, tcp.dport):
            return [ctx.row("TCP", f"{tcp.sport} → {tcp.dport} [{tcp.flag_names}]", {"length": len(tcp.payload)})]
        ctx.tunnel = "pptp control"
        key = (ip.src, tcp.sport, ip.dst, tcp.dport)
        flow = self._flows.setdefault(key, _Flow())
        if tcp.flags & 0x02:  # SYN
            flow.next_seq, flow.buf = (tcp.seq + 1) & 0xFFFFFFFF, bytearray()
        basic = ctx.row("TCP", f"{tcp.sport} → {tcp.dport} [{tcp.flag_names}]", {"length": len(tcp.payload)})
        if not tcp.payload:
            return [basic]
        data = tcp.payload
        if flow.next_seq is not None:
            ahead = (tcp.seq - flow.next_seq) & 0xFFFFFFFF
            if ahead >= 0x80000000:             # starts before what we have: retransmission (maybe partial)
                behind = 0x100000000 - ahead
                if behind >= len(data):
                    return [ctx.row("TCP", "retransmission", {"length": len(data)})]
                data = data[behind:]
            elif ahead:                         # a gap: resynchronise on this segment
                self.summary.tcp_gaps += 1
                flow.buf = bytearray()
        flow.next_seq = (tcp.seq + len(tcp.payload)) & 0xFFFFFFFF
        flow.buf += data
        rows = self._pptp_messages(ctx, flow)
        return rows or [basic]

    def _pptp_messages(self, ctx: "_Ctx", flow: _Flow) -> list[Row]:
        from rrasctl.protocols.pptp import messages as pptp

        rows = []
        while len(flow.buf) >= 2:
            length = pptp.peek_length(flow.buf)
            if length is None or (pptp.MIN_MESSAGE <= length <= pptp.MAX_MESSAGE and length > len(flow.buf)):
                break
            chunk = bytes(flow.buf[:length])
            try:
                msg = pptp.decode(chunk)             # a Length out of range fails here, at once
            except Malformed as exc:
                flow.buf = bytearray()          # lost framing: wait for the next segment boundary
                rows.append(ctx.row("PPTP", "malformed", error=exc.reason))
                break
            del flow.buf[:length]
            name = msg.TYPE.name.replace("_", "-").title()
            fields = {f.name: _plain(getattr(msg, f.name)) for f in dataclasses.fields(msg)}
            if msg.TYPE in (pptp.ControlType.OUTGOING_CALL_REPLY, pptp.ControlType.INCOMING_CALL_REPLY):
                # GRE to the replier carries its call id; GRE to the other side carries the peer call id
                key = ("gre", ctx.src, msg.call_id, ctx.dst, msg.peer_call_id)
                self._calls[(ctx.src, msg.call_id)] = key
                self._calls[(ctx.dst, msg.peer_call_id)] = key
            rows.append(ctx.row("PPTP", name, fields))
        return rows


@dataclass
class _Ctx:
    number: int
    time: float
    ts_ns: int
    src: str = ""
    dst: str = ""
    tunnel: str = ""
    encap: list[str] = field(default_factory=list)     # outer IP-in-IP layers (trace/encap.py), outermost first

    def row(self, protocol: str, message: str, fields: dict[str, Any] | None = None,
            error: str | None = None) -> Row:
        tunnel = ", ".join([*self.encap, self.tunnel] if self.tunnel else self.encap)
        return Row(self.number, self.time, self.src, self.dst, tunnel, protocol, message, fields or {}, error)


def _without_hidden_avps(data: bytes) -> tuple[bytes, list[int]]:
    """An L2TP control message with its hidden AVPs (H bit, RFC 2661 §4.3) cut out and its Length fixed, and the
    attribute types cut. Walks AVP headers only; values are decoded by `protocols.l2tp`."""
    r = Reader(data, "L2TP control header")
    r.skip(2)
    length = r.u16()
    if length < 12 or length > len(data):
        raise Malformed("bad control message length")
    out, hidden, pos = bytearray(data[:12]), [], 12
    while pos < length:
        if pos + 6 > length:
            raise Malformed("short AVP header")
        flags_len, _vendor, attr = struct.unpack_from("!HHH", data, pos)
        n = flags_len & 0x03FF
        if n < 6 or pos + n > length:
            raise Malformed("bad AVP length")
        if flags_len & 0x4000:
            hidden.append(attr)
        else:
            out += data[pos:pos + n]
        pos += n
    struct.pack_into("!H", out, 2, len(out))
    return bytes(out), hidden


def _hidden_name(attr: int) -> str:
    from rrasctl.protocols.l2tp.avp import AvpType

    try:
        return _snake(AvpType(attr).name)
    except ValueError:
        return f"type_{attr}"


def _snake(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def _plain(value: Any) -> Any:
    """A JSON-friendly value: enums by name, bytes as hex, tuples as lists, text cleaned of control bytes."""
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return "".join(c if " " <= c <= "~" else "?" for c in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


__all__ = ["Dissector", "Row", "Summary"]
