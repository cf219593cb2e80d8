"""Benchmark client: the same FTP client, timed the same way, for every server.

usage: client.py ftp-put|ftp-get HOST PORT USER PASS FILE REMOTE
         prints the seconds the transfer took (from the command to the final reply)
       client.py ftp-many HOST PORT USER PASS DIR REMOTE_DIR
         creates REMOTE_DIR (untimed), uploads every file of DIR to it, then
         downloads each back and checks its bytes, all over one session;
         prints the milliseconds per file of the uploads and of the downloads
"""
import ftplib, os, sys, time

BLOCK = 1 << 20

def login(host, port, user, password):
    ftp = ftplib.FTP()
    ftp.connect(host, int(port))
    ftp.login(user, password)
    return ftp

def one(kind, host, port, user, password, path, remote):
    ftp = login(host, port, user, password)
    start = time.perf_counter()
    if kind == "ftp-put":
        with open(path, "rb") as f:
            ftp.storbinary(f"STOR {remote}", f, blocksize=BLOCK)
    else:
        ftp.retrbinary(f"RETR {remote}", lambda b: None, blocksize=BLOCK)
    elapsed = time.perf_counter() - start
    ftp.quit()
    print(f"{elapsed:.4f}")

class Sink:
    """Collects one download's bytes."""
    def __init__(self):
        self.parts = []
    def __call__(self, block):
        self.parts.append(block)

def many(host, port, user, password, directory, remote_dir):
    names = sorted(os.listdir(directory))
    # Read before timing: the client's own disk is not what is measured.
    contents = {}
    for name in names:
        with open(os.path.join(directory, name), "rb") as f:
            contents[name] = f.read()
    ftp = login(host, port, user, password)
    ftp.mkd(remote_dir)
    start = time.perf_counter()
    for name in names:
        with open(os.path.join(directory, name), "rb") as f:
            ftp.storbinary(f"STOR {remote_dir}/{name}", f, blocksize=BLOCK)
    up = time.perf_counter() - start
    start = time.perf_counter()
    for name in names:
        sink = Sink()
        ftp.retrbinary(f"RETR {remote_dir}/{name}", sink, blocksize=BLOCK)
        if b"".join(sink.parts) != contents[name]:
            sys.exit(f"{name}: downloaded bytes differ from the uploaded ones")
    down = time.perf_counter() - start
    ftp.quit()
    print(f"{up * 1000 / len(names):.4f} {down * 1000 / len(names):.4f}")

kind = sys.argv[1]
if kind == "ftp-many":
    many(*sys.argv[2:])
else:
    one(kind, *sys.argv[2:])
