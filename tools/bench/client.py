"""Benchmark client: one loopback transfer, timed the same way for FTP and raw TCP.

usage: client.py ftp-put|ftp-get HOST PORT USER PASS FILE REMOTE
       client.py raw-put HOST PORT FILE | raw-get HOST PORT
Prints the seconds the data transfer took (from the first byte sent to the final reply).
"""
import ftplib, socket, sys, time

BLOCK = 1 << 20

def ftp(kind, host, port, user, password, path, remote):
    ftp = ftplib.FTP()
    ftp.connect(host, int(port))
    ftp.login(user, password)
    start = time.perf_counter()
    if kind == "ftp-put":
        with open(path, "rb") as f:
            ftp.storbinary(f"STOR {remote}", f, blocksize=BLOCK)
    else:
        ftp.retrbinary(f"RETR {remote}", lambda b: None, blocksize=BLOCK)
    elapsed = time.perf_counter() - start
    ftp.quit()
    return elapsed

def raw(kind, host, port, path=None):
    s = socket.create_connection((host, int(port)))
    start = time.perf_counter()
    if kind == "raw-put":
        with open(path, "rb") as f:
            while chunk := f.read(BLOCK):
                s.sendall(chunk)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)  # the peer closes after fsync
    else:
        buffer = bytearray(BLOCK)
        while s.recv_into(buffer):
            pass
    elapsed = time.perf_counter() - start
    s.close()
    return elapsed

kind = sys.argv[1]
if kind.startswith("ftp"):
    print(f"{ftp(kind, *sys.argv[2:]):.4f}")
else:
    print(f"{raw(kind, *sys.argv[2:]):.4f}")
