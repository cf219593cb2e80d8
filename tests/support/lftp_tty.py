#!/usr/bin/env python3
"""Drives interactive lftp on a pseudo-terminal and presses Ctrl-C mid-transfer.

Ctrl-C at lftp's prompt interrupts the running job the way users do: lftp
sends ABOR (after its Telnet IAC IP / IAC DM) and drops the connection. One
JSON argument: port, command (an lftp command), afterMs (when to press Ctrl-C),
log (where lftp writes its debug log, which the test reads for "---> ABOR").
"""

import json
import os
import pty
import select
import signal
import sys
import time


def pump(fd, seconds):
    """Reads (and discards) the terminal for `seconds` so lftp never blocks writing to it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                if not os.read(fd, 65536):
                    return False
            except OSError:
                return False
    return True


def main():
    plan = json.loads(sys.argv[1])
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp("lftp", ["lftp", "-u", "demo,demo", "-p", str(plan["port"]), "127.0.0.1"])
    settings = f"set net:limit-rate 2M; set net:max-retries 1; debug 9 -o {plan['log']}\n"
    os.write(fd, settings.encode())
    pump(fd, 0.5)
    os.write(fd, (plan["command"] + "\n").encode())
    pump(fd, plan["afterMs"] / 1000)
    os.write(fd, b"\x03")
    pump(fd, 2)
    os.write(fd, b"exit\n")
    pump(fd, 2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
