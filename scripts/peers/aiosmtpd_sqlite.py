"""A durable aiosmtpd receiver for comparison with threadgate (scripts/bench-peers.sh).

Each message is parsed with Python's email package (the text part extracted) and committed to
SQLite (WAL, synchronous=FULL: fsync before the 250), one transaction per message, before
answering: the same promise threadgate makes, without threadgate's threading and extraction.

    python3 scripts/peers/aiosmtpd_sqlite.py PORT DB_PATH
"""

import asyncio
import email
import email.policy
import sqlite3
import sys

from aiosmtpd.controller import Controller


class Store:
    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, mail_from TEXT,"
            " rcpt TEXT, message_id TEXT, subject TEXT, body TEXT, raw BLOB)"
        )

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        self.db.execute("BEGIN")
        self.db.execute(
            "INSERT INTO messages (mail_from, rcpt, message_id, subject, body, raw)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                envelope.mail_from,
                ",".join(envelope.rcpt_tos),
                msg.get("Message-ID"),
                msg.get("Subject"),
                body,
                envelope.content,
            ),
        )
        self.db.execute("COMMIT")
        return "250 2.0.0 Stored"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(
        Store(path), hostname="127.0.0.1", port=port, data_size_limit=33554432
    )
    controller.start()
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
