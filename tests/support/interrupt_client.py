#!/usr/bin/env python3
"""Interrupts FTP transfers the ways real clients do, for tests/interrupt_test.ts.

Deno cannot send TCP urgent data, so this helper opens the control and data
sockets itself and sends with socket.MSG_OOB where a client does. It takes one
JSON argument (the plan) and prints one JSON object (what it saw): reply lines
and byte counts, so the test asserts on the server's real answers.

Modes:
  variant  one STOR or RETR interrupted by one ABOR byte sequence
  ftplib   ftplib.FTP.abort() during STOR or RETR
  race     the whole file sent, then ABOR and the data close back to back
  kill     control and data closed back to back mid-upload (FIN, or RST), in
           a random order unless the plan names one
"""

import ftplib
import json
import random
import re
import socket
import struct
import sys
import time

IAC, IP, DM = b"\xff", b"\xf4", b"\xf2"

# The ABOR byte sequences, as (bytes, urgent) sends, in order.
VARIANTS = {
    # A plain in-band command.
    "inband": [(b"ABOR\r\n", False)],
    # RFC 959's sequence with every byte in band (a server with SO_OOBINLINE sees this).
    "telnet-inband": [(IAC + IP + IAC + DM + b"ABOR\r\n", False)],
    # lftp: the DM byte is urgent, so the server reads IAC IP IAC ABOR\r\n.
    "lftp": [(IAC + IP + IAC, False), (DM, True), (b"ABOR\r\n", False)],
    # tnftp: the second IAC is urgent, so the server reads IAC IP DM ABOR\r\n.
    "tnftp": [(IAC + IP, False), (IAC, True), (DM + b"ABOR\r\n", False)],
    # ftplib: the whole line is sent urgent, so its last byte (LF) is lost.
    "ftplib": [(b"ABOR\r\n", True)],
}

REPLY_WAIT = 3.0
"""Seconds to wait for a reply the server owes now (a correct server answers in milliseconds)."""


class Control:
    """A control connection that reads whole replies with a deadline."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.closed = False

    def reply(self, wait=REPLY_WAIT):
        """The next complete reply's lines, or ["TIMEOUT"] / ["EOF"]."""
        deadline = time.monotonic() + wait
        lines = []
        while True:
            while b"\r\n" not in self.buffer:
                if self.closed:
                    return lines + ["EOF"]
                left = deadline - time.monotonic()
                if left <= 0:
                    return lines + ["TIMEOUT"]
                self.sock.settimeout(left)
                try:
                    chunk = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    self.closed = True
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text)
            if re.match(r"^\d{3} ", lines[0]) or (len(lines) > 1 and text.startswith(lines[0][:3] + " ")):
                return lines

    def send(self, data, urgent=False):
        self.sock.send(data, socket.MSG_OOB if urgent else 0)

    def command(self, line, wait=REPLY_WAIT):
        self.send(line.encode("utf-8", "surrogateescape") + b"\r\n")
        return "\n".join(self.reply(wait))

    def login(self):
        expect(self.reply(), "220")
        expect([self.command("USER demo")], "331")
        expect([self.command("PASS demo")], "230")
        expect([self.command("TYPE I")], "200")

    def open_data(self):
        text = self.command("EPSV")
        match = re.search(r"\(\|\|\|(\d+)\|\)", text)
        if not match:
            raise RuntimeError(f"EPSV failed: {text}")
        data = socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=10)
        return data


def expect(lines, code):
    if not lines[0].startswith(code):
        raise RuntimeError(f"expected {code}, got {lines}")


def joined(lines):
    return "\n".join(lines)


def pattern(size):
    """Bytes that are cheap to make and to check (a counter, not random)."""
    return bytes(i % 251 for i in range(size))


def send_throttled(data, total, chunk=64 * 1024, pause=0.005):
    block = pattern(chunk)
    sent = 0
    while sent < total:
        sent += data.send(block[: min(chunk, total - sent)])
        time.sleep(pause)
    return sent


def recv_throttled(data, total, chunk=64 * 1024, pause=0.005):
    got = 0
    while got < total:
        part = data.recv(min(chunk, total - got))
        if not part:
            break
        got += len(part)
        time.sleep(pause)
    return got


def drain(data, seconds=20.0):
    """Reads the data connection to its end (bounded in time); returns the byte count."""
    got = 0
    deadline = time.monotonic() + seconds
    data.settimeout(1)
    while time.monotonic() < deadline:
        try:
            part = data.recv(1 << 20)
        except socket.timeout:
            continue
        except OSError:
            break
        if not part:
            break
        got += len(part)
    return got


def replies_until(ctrl, count, wait=REPLY_WAIT):
    """Up to `count` replies; stops at the first timeout or end of connection."""
    out = []
    while len(out) < count:
        lines = ctrl.reply(wait)
        out.append(joined(lines))
        if lines[-1] in ("TIMEOUT", "EOF"):
            break
    return out


def after_abort(ctrl, result, tag):
    """The session must go on at once: NOOP, IAC IAC as a literal byte, NOOP."""
    started = time.monotonic()
    result["noop"] = ctrl.command("NOOP", 1.0)
    result["noop_ms"] = round((time.monotonic() - started) * 1000)
    ctrl.send(f"MKD {tag}-a".encode() + IAC + IAC + b"b\r\n")
    result["mkd_iac_iac"] = joined(ctrl.reply(1.0))
    result["noop2"] = ctrl.command("NOOP", 1.0)


def run_variant(plan):
    ctrl = Control(plan["port"])
    ctrl.login()
    data = ctrl.open_data()
    result = {"variant": plan["variant"], "op": plan["op"]}
    result["start"] = ctrl.command(f"{plan['op']} {plan['name']}")
    if plan["op"] == "STOR":
        result["sent"] = send_throttled(data, plan["bytes"])
    else:
        result["received"] = recv_throttled(data, plan["bytes"])
    if plan.get("stat"):
        ctrl.send(b"STAT\r\n")
    for chunk, urgent in VARIANTS[plan["variant"]]:
        ctrl.send(chunk, urgent)
    # The data connection stays open and unread: only ABOR can end the transfer now.
    result["replies"] = replies_until(ctrl, 3 if plan.get("stat") else 2)
    if plan["op"] == "RETR":
        result["received"] += drain(data)
    data.close()
    if result["replies"][-1].endswith(("TIMEOUT", "EOF")):
        result["late_replies"] = replies_until(ctrl, 2)
    after_abort(ctrl, result, plan["variant"])
    return result


def run_ftplib(plan):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", plan["port"], timeout=plan.get("timeout", 5))
    ftp.login("demo", "demo")
    ftp.voidcmd("TYPE I")
    result = {"op": plan["op"]}
    conn = ftp.transfercmd(f"{plan['op']} {plan['name']}")
    if plan["op"] == "STOR":
        result["sent"] = send_throttled(conn, plan["bytes"])
    else:
        result["received"] = recv_throttled(conn, plan["bytes"])
    steps = [
        ("abort", ftp.abort),
        ("second", ftp.getmultiline),
        ("drain", lambda: drain(conn) if plan["op"] == "RETR" else 0),
        ("noop", lambda: ftp.sendcmd("NOOP")),
    ]
    for name, step in steps:
        started = time.monotonic()
        try:
            result[name] = step()
        except Exception as error:  # noqa: BLE001 - the test wants to see what failed
            result[name] = f"{type(error).__name__}: {error}"
            result["failed_at"] = name
            break
        finally:
            result[name + "_ms"] = round((time.monotonic() - started) * 1000)
    if isinstance(result.get("drain"), int) and plan["op"] == "RETR":
        result["received"] += result["drain"]
    conn.close()
    ftp.close()
    return result


def run_race(plan):
    ctrl = Control(plan["port"])
    ctrl.login()
    body = pattern(plan["bytes"])
    out = []
    for name in plan["names"]:
        data = ctrl.open_data()
        start = ctrl.command(f"STOR {name}")
        data.sendall(body)
        ctrl.send(b"ABOR\r\n")
        data.close()
        out.append({"name": name, "start": start, "replies": replies_until(ctrl, 2),
                    "noop": ctrl.command("NOOP", 1.0)})
    return {"iterations": out}


def run_kill(plan):
    out = []
    rng = random.Random(plan.get("seed"))
    for name in plan["names"]:
        ctrl = Control(plan["port"])
        ctrl.login()
        data = ctrl.open_data()
        start = ctrl.command(f"STOR {name}")
        sent = send_throttled(data, rng.randint(plan["min"], plan["max"]))
        order = plan.get("order") or rng.choice(["data-first", "control-first"])
        if plan["how"] == "rst":
            for sock in (ctrl.sock, data):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        pair = [data, ctrl.sock] if order == "data-first" else [ctrl.sock, data]
        for sock in pair:
            sock.close()
        out.append({"name": name, "start": start, "sent": sent, "order": order})
    return {"iterations": out}


MODES = {"variant": run_variant, "ftplib": run_ftplib, "race": run_race, "kill": run_kill}


def main():
    plan = json.loads(sys.argv[1])
    print(json.dumps(MODES[plan["mode"]](plan)))


if __name__ == "__main__":
    main()
