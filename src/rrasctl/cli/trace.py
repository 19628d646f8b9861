"""`rrasctl trace decode FILE`: decode a pcap/pcapng capture with the engine's own codecs (SPEC §8).

Rows go to stdout (`-o table`: aligned text; `-o json`: one JSON list of row objects, keys documented in
`rrasctl trace decode --help` and man/rrasctl-trace.1); the summary and warnings go to stderr.
Imports of the dissector (and so of `cryptography`) happen inside the command.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack

import click

from rrasctl.cli._app import App
from rrasctl.cli._output import output_option
from rrasctl.errors import RrasctlError, ValidationError

TABLE_COLUMNS = ("frame", "time", "src", "dst", "tunnel", "protocol", "message", "fields")


@click.group("trace")
def trace() -> None:
    """Offline diagnostics on packet captures.

    \b
    Example:
        rrasctl trace decode capture.pcapng
    """


@trace.command("decode")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--password-stdin", is_flag=True,
              help="Read the PPP password from the first line of stdin: verify MS-CHAP/CHAP, decrypt MPPE.")
@click.option("--l2tp-secret-stdin", is_flag=True,
              help="Read the L2TP tunnel secret from stdin (the next line after the password, if both are read): "
                   "verify tunnel authentication, reveal hidden AVPs.")
@click.option("--psk-stdin", is_flag=True,
              help="Read the IPsec pre-shared key from stdin (the line after the password and the L2TP secret, if "
                   "those are read too): check IKE Aggressive Mode exchanges against it.")
@click.option("--esp-sa", "esp_sa", type=click.Path(exists=True, dir_okay=False, readable=True),
              help="Decrypt ESP (IP protocol 50 and UDP 4500) with the SAs in this file, Wireshark's esp_sa format "
                   "(one quoted line per SA: protocol, source, destination, SPI, encryption, key, authentication, "
                   "key); rows then show what the ESP carries.")
@click.option("--write-pcap", "write_pcap", type=click.Path(dir_okay=False, writable=True),
              help="Write the decrypted PPP frames to OUT (pcap, link type PPP_WITH_DIR) for tshark/Wireshark.")
@output_option
@click.pass_obj
def decode(app: App, file: str, password_stdin: bool, l2tp_secret_stdin: bool, psk_stdin: bool,
           esp_sa: str | None, write_pcap: str | None) -> None:
    """Decode FILE (pcap or pcapng): one row per PPTP, GRE, L2TP, PPP, IKE or ESP message.

    PPP frames are found in enhanced GRE (PPTP) and in L2TP data messages on UDP 1701, and decoded (LCP, PAP, CHAP,
    MS-CHAP v1/v2, EAP, IPCP, CCP, MPPE). With --password-stdin, each CHAP/MS-CHAP response is shown as
    "verified" or "NOT verified", and MPPE frames are decrypted (stateless and stateful; 40, 56, 128 bits) once a
    response verifies: rows then show the inner protocol. A wrong password verifies and decrypts nothing.

    With --esp-sa FILE, ESP frames (plain and UDP-encapsulated on 4500) are authenticated and decrypted with the
    matching SA (AES-GCM, AES-CBC, 3DES, DES, NULL; HMAC-SHA1-96, HMAC-MD5-96, HMAC-SHA-256-96/128): the row is
    the protocol inside (L2TP and its PPP, ICMP ...), its tunnel starts "esp spi=... seq=...", and the field
    esp_icv says "verified" (or "none" for an SA without integrity). A frame that fails keeps its ESP row with the
    reason in the field decryption ("bad icv", "bad padding", "no SA").

    \b
    JSON (-o json): a list of objects with the keys
      frame     frame number in FILE (1-based; several rows may share one)
      time      seconds since the first frame
      src, dst  source and destination (IP address, or the link's end for PPP captures)
      tunnel    "gre call=N seq=N ack=N", "l2tp tunnel=N session=N ...", "esp spi=0x... seq=N ...",
                "pptp control" or ""
      protocol  PPTP, TCP, GRE, L2TP, LCP, PAP, CHAP, MS-CHAP, MS-CHAP-V2, EAP, IPCP, CCP, MPPE, IP, ESP, ISAKMP ...
      message   the message or code, e.g. "Configure-Request", "Response", "decrypted: IPv4 ... UDP 137 → 137"
      fields    key fields (snake_case), e.g. id, options, user, verification, error, retry, ccount, inner
      error     null, or why the frame did not decode (a malformed row)

    \b
    Example:
        rrasctl trace decode session.pcap
        printf '%s\\n' "$PASSWORD" | rrasctl trace decode --password-stdin --write-pcap clear.pcap session.pcap
        printf '%s\\n' "$PSK" | rrasctl trace decode --psk-stdin ike.pcap
        rrasctl trace decode -o json session.pcapng | jq '.[] | select(.protocol == "MS-CHAP-V2")'
        rrasctl trace decode --esp-sa esp_sa l2tp-ipsec.pcap
    """
    from rrasctl.trace import pcap
    from rrasctl.trace.dissect import Dissector

    password, secret, psk = _read_secrets(password_stdin, l2tp_secret_stdin, psk_stdin)
    esp = _esp_keys(esp_sa) if esp_sa else None
    try:
        with open(file, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise RrasctlError(f"cannot read {file}: {exc.strerror}") from None
    try:
        pcap.capture_format(data)
    except pcap.CaptureError as exc:
        raise ValidationError(f"{file}: {exc}", hint="give a pcap or pcapng capture") from None
    with ExitStack() as stack:
        sink = _pcap_sink(stack, write_pcap) if write_pcap else None
        dissector = Dissector(password, secret.encode("utf-8") if secret is not None else None, sink=sink, esp=esp,
                              ike_psk=psk.encode("utf-8") if psk is not None else None)
        rows = []
        try:
            for number, packet in enumerate(pcap.read_packets(data), 1):
                rows.extend(dissector.feed(number, packet))
        except pcap.CaptureError as exc:
            app.say(f"warning: {file}: {exc}; decoded the frames before it")
    if app.output == "json":
        app.emit([r.as_dict() for r in rows])
    else:
        app.emit([_table_row(r) for r in rows], list(TABLE_COLUMNS), drop=("tunnel",), tail="fields")
    _say_summary(app, dissector, password is not None, secret is not None, write_pcap)
    if psk is not None:
        ike = dissector.ike
        app.say(f"IKE pre-shared key: {ike.verified} exchanges match, {ike.not_verified} do NOT match"
                + ("" if ike.verified or ike.not_verified else " (no Aggressive Mode exchange to check)"))


def _esp_keys(path: str):
    """The SAs of an esp_sa file (keys stay in memory; errors name the line, never a key)."""
    from rrasctl.trace.esp import EspKeyring, EspSaFileError

    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            text = f.read()
    except OSError as exc:
        raise RrasctlError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not a text file", hint="give Wireshark's esp_sa file") from None
    try:
        keys = EspKeyring.from_text(text)
    except EspSaFileError as exc:
        raise ValidationError(f"{path}: {exc}", hint="see rrasctl trace decode --help for the esp_sa format") from None
    if not keys.entries:
        raise ValidationError(f"{path}: no SA lines", hint="give Wireshark's esp_sa file") from None
    return keys


def _read_secrets(password_stdin: bool, l2tp_secret_stdin: bool, psk_stdin: bool = False
                  ) -> tuple[str | None, str | None, str | None]:
    """One secret: the whole of stdin (one line). Several: one line each, in the order password, L2TP secret,
    pre-shared key (decision 0052, 0105)."""
    from rrasctl.cli import _secrets

    wanted = [(flag, name) for flag, name in ((password_stdin, "password"), (l2tp_secret_stdin, "L2TP secret"),
                                              (psk_stdin, "pre-shared key")) if flag]
    if len(wanted) > 1:
        lines = sys.stdin.read().splitlines()
        if len(lines) != len(wanted) or not all(lines):
            count = {2: "two", 3: "three"}[len(wanted)]
            raise ValidationError(f"expected {count} lines on stdin: " + ", then ".join(f"the {n}" for _, n in wanted))
        given = iter(lines)
    elif wanted:
        given = iter([_secrets.from_stdin(wanted[0][1])])
    else:
        given = iter(())
    return tuple(next(given) if flag else None for flag in (password_stdin, l2tp_secret_stdin, psk_stdin))


def _fields_text(fields: dict) -> str:
    def text(v) -> str:
        if isinstance(v, list):
            return ",".join(text(x) for x in v)
        return ("yes" if v else "no") if isinstance(v, bool) else str(v)

    return " ".join(f"{k}={text(v)}" for k, v in fields.items() if v is not None and v != "")


def _table_row(r) -> dict:
    fields = _fields_text(r.fields)
    if r.error:
        fields = (f"error={r.error} " + fields).strip()
    return {"frame": r.frame, "time": f"{r.time:.6f}", "src": r.src, "dst": r.dst, "tunnel": r.tunnel,
            "protocol": r.protocol, "message": r.message, "fields": fields}


def _pcap_sink(stack: ExitStack, path: str):
    """A pcap writer (LINKTYPE_PPP_WITH_DIR, mode 0600: it holds decrypted traffic) as the dissector's sink."""
    from rrasctl.trace.pcap import LINKTYPE_PPP_WITH_DIR, PcapWriter

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)                     # also when the file existed with a wider mode
    except OSError as exc:
        raise RrasctlError(f"cannot write {path}: {exc.strerror}") from None
    f = stack.enter_context(os.fdopen(fd, "wb"))
    writer = PcapWriter(f, LINKTYPE_PPP_WITH_DIR)

    def sink(ts_ns: int, outbound: bool, frame: bytes) -> None:
        writer.write(ts_ns, (b"\x01" if outbound else b"\x00") + frame)

    return sink


def _say_summary(app: App, dissector, have_password: bool, have_secret: bool, write_pcap: str | None) -> None:
    s = dissector.summary
    ppp = s.ppp
    parts = [f"{s.frames} frames, {s.rows} rows"]
    if s.malformed:
        parts.append(f"{s.malformed} malformed")
    if s.fragments_pending:
        parts.append(f"{s.fragments_pending} IP fragments not reassembled")
    if have_password:
        parts.append(f"authentication: {ppp.verified} verified, {ppp.not_verified} NOT verified")
        parts.append(f"MPPE: {ppp.decrypted} decrypted, {ppp.undecrypted} not decrypted")
    elif ppp.undecrypted:
        parts.append(f"{ppp.undecrypted} MPPE frames (give --password-stdin to decrypt)")
    if have_secret:
        parts.append(f"L2TP tunnel authentication: {s.l2tp_verified} verified, {s.l2tp_not_verified} NOT verified")
    if dissector.esp is not None:
        e = dissector.esp.stats
        parts.append(f"ESP: {e.decrypted} decrypted ({e.icv_verified} ICVs verified), {e.not_decrypted} not "
                     f"decrypted, {e.no_sa} without an SA")
    app.say("; ".join(parts))
    if have_password and not ppp.verified and ppp.not_verified:
        app.say("warning: the password verified no authentication exchange: nothing was decrypted")
    if write_pcap:
        app.say(f"wrote {dissector.decrypted_count} decrypted PPP frames to {write_pcap}")
