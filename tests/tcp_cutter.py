"""A TCP proxy on loopback that loses connections on purpose: the network between a laptop and the trust server.

`cut` is the chance that a connection is dropped; a dropped connection is cut at a random point (before the
request reaches the server, or after the server answered but before the answer reaches the laptop, which is the
case that makes a laptop send the same batch again). `down` refuses everything.
"""
from __future__ import annotations

import random
import socket
import threading


class TcpCutter:
    def __init__(self, target_port: int, cut: float = 0.3, seed: int = 1):
        self.target_port, self.cut, self.down = target_port, cut, False
        self.random = random.Random(seed)
        self.cuts = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.down:
            client.close()
            return
        # Where to cut, if at all: after this many bytes towards the server, or towards the laptop.
        plan = None
        if self.random.random() < self.cut:
            self.cuts += 1
            plan = (self.random.choice(("up", "down")), self.random.randint(0, 4000))
        try:
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
        except OSError:
            client.close()
            return
        done = threading.Event()

        def pipe(src, dst, direction):
            sent = 0
            try:
                while not done.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    if plan and plan[0] == direction and sent + len(data) > plan[1]:
                        dst.sendall(data[: max(0, plan[1] - sent)])
                        break
                    dst.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            done.set()
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pipe, args=(server, client, "down"), daemon=True).start()
        pipe(client, server, "up")
        done.wait(60)
        client.close()
        server.close()
