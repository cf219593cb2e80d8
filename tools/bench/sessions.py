"""Many concurrent FTP sessions of small mixed transfers (the memory bench's session load).

usage: sessions.py HOST PORT USER PASS SESSIONS SECONDS
  Every session logs in once, makes its own directory s<N>, and all wait until
  every one is logged in; then for SECONDS each loops: STOR a file of 4-64 KiB
  of random bytes, RETR it and compare, LIST the root (which holds every
  session's directory), DELE. Then every session QUITs.
  Prints one JSON line: sessions logged in, operations done, RETR mismatches,
  failed operations (with the first error), and the seconds of the loop.

Threads, not processes: each thread sleeps on its sockets almost all the time,
so 300 of them cost the client little CPU on a 2-core machine.
"""
import ftplib, io, json, os, random, sys, threading, time

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sessions, seconds = int(sys.argv[5]), float(sys.argv[6])

threading.stack_size(256 * 1024)
lock = threading.Lock()
totals = {"sessions": 0, "operations": 0, "mismatches": 0, "failures": 0, "first_error": ""}
clock = {"started": 0.0, "deadline": 0.0}


def start_clock():
    """Runs once every session is logged in: the timed loop starts now."""
    clock["started"] = time.monotonic()
    clock["deadline"] = clock["started"] + seconds


ready = threading.Barrier(sessions, action=start_clock)


def count(name, error=None):
    with lock:
        totals[name] += 1
        if error is not None and not totals["first_error"]:
            totals["first_error"] = f"{type(error).__name__}: {error}"


def session(index):
    ftp = None
    try:
        ftp = ftplib.FTP(timeout=120)
        ftp.connect(host, port)
        ftp.login(user, password)
        ftp.mkd(f"s{index}")
        ftp.cwd(f"s{index}")
        count("sessions")
    except Exception as error:
        count("failures", error)
        ftp = None
    ready.wait()
    if ftp is None:
        return
    rng = random.Random(index)
    n = 0
    while time.monotonic() < clock["deadline"]:
        n += 1
        name = f"f{n}.bin"
        data = os.urandom(rng.randint(4 * 1024, 64 * 1024))
        try:
            ftp.storbinary(f"STOR {name}", io.BytesIO(data))
            parts = []
            ftp.retrbinary(f"RETR {name}", parts.append)
            if b"".join(parts) != data:
                count("mismatches")
            ftp.retrlines("LIST /", lambda line: None)
            ftp.delete(name)
            count("operations")
        except Exception as error:
            count("failures", error)
    try:
        ftp.quit()
    except Exception as error:
        count("failures", error)


threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
totals["seconds"] = round(time.monotonic() - clock["started"], 2)
print(json.dumps(totals))
