#!/usr/bin/env python3
"""A slow Docker socket for tests/faults: listens on LISTEN, passes every
byte to the engine's socket TARGET, but holds PERCENT % of the restart calls
(POST /containers/NAME/restart) for DELAY seconds first, longer than the
executor waits for an answer. The call then reaches the engine anyway: the
engine acts after the executor gave up, the case the executor must report
as an outcome it cannot know.

    slowsock.py LISTEN TARGET DELAY PERCENT
"""
import os
import random
import socket
import sys
import threading
import time


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def client(conn, target, delay, percent):
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    up.connect(target)
    threading.Thread(target=pump, args=(up, conn), daemon=True).start()
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            line = b.split(b"\r\n", 1)[0]
            if line.startswith(b"POST ") and b"/restart" in line and random.randrange(100) < percent:
                print("delayed %s" % line.decode(errors="replace"), flush=True)
                time.sleep(delay)
            up.sendall(b)
    except OSError:
        pass
    finally:
        try:
            up.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def main():
    listen, target, delay, percent = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    if os.path.exists(listen):
        os.unlink(listen)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen)
    os.chmod(listen, 0o660)
    srv.listen(64)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=client, args=(conn, target, delay, percent), daemon=True).start()


if __name__ == "__main__":
    main()
