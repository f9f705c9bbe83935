"""A real SMTP server for the tests (aiosmtpd), one per test: it takes any message on a free port
of 127.0.0.1 and stores it in a Maildir. Prints the port on its first line, then serves until
killed.

    python3 tests/smtp/server.py MAILDIR
"""

import socket
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    maildir = sys.argv[1]
    port = free_port()
    controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
