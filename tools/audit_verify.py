#!/usr/bin/env python3
"""Verify a Bomizzel audit export offline: no database, no server, only the
Python standard library.

An export is JSON lines, one event each, as written by
`bomizzel audit export` (a stretch of the whole log) or
`GET /api/audit/tickets/{id}` (one ticket's every event). The canonical
encoding and both hash chains are specified in docs/audit.md; this script
re-computes them from the exported fields:

- every event's `hash` is SHA-256(previous_hash || encoding), and where the
  event before it in the log is in the file, `previous_hash` is its `hash`
  and the positions follow each other;
- every event's `stream_hash` is SHA-256(the stream's previous stream_hash
  || encoding), from version 1 (whose previous link is 32 zero bytes) or
  from the first event of the stream in the file, versions without gaps;
- with --anchor POSITION:HASH, the event at POSITION is in the file and its
  hash is HASH (a head kept earlier, e.g. from `bomizzel audit head`).

Exit status: 0 intact, 1 the export fails (the first failing line and why),
2 the file or the arguments cannot be read.

    python3 tools/audit_verify.py export.jsonl [--anchor POSITION:HASH]
"""

import argparse
import calendar
import hashlib
import json
import re
import struct
import sys

GENESIS = bytes(32)
TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|[+-]\d{2}:\d{2})$"
)


class Broken(Exception):
    """The export fails at an event."""


def nanoseconds(text):
    """An RFC 3339 time as nanoseconds since the Unix epoch."""
    match = TIME.match(text)
    if not match:
        raise Broken(f"recorded_at {text!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7) or "", match.group(8)
    seconds = calendar.timegm((year, month, day, hour, minute, second))
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))


def text(value):
    data = value.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def encoding(event):
    """The canonical encoding of docs/audit.md."""
    return b"".join(
        [
            struct.pack(">q", event["position"]),
            text(event["stream_id"]),
            struct.pack(">q", event["version"]),
            text(event["event_type"]),
            struct.pack(">q", event["schema_version"]),
            text(event["event_id"]),
            struct.pack(">q", nanoseconds(event["recorded_at"])),
            text(event["payload"]),
            text(event["metadata"]),
        ]
    )


def link(previous, event):
    return hashlib.sha256(previous + encoding(event)).hexdigest()


def hex_hash(event, field):
    value = event.get(field)
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise Broken(f"{field} is missing or not 64 hexadecimal digits")
    return value


def check(events, anchor):
    """Raises Broken at the first event that fails; returns the count."""
    before = None  # the previous line
    streams = {}  # stream_id -> (version, stream_hash)
    for event in events:
        position = event["position"]
        try:
            previous = hex_hash(event, "previous_hash")
            follows = before is not None and before["position"] == position - 1
            if follows and previous != before["hash"]:
                raise Broken("previous_hash is not the hash of the line before")
            if before is not None and position <= before["position"]:
                raise Broken(f"reordered: comes after position {before['position']}")
            if link(bytes.fromhex(previous), event) != hex_hash(event, "hash"):
                raise Broken("changed: hash does not match the event")
            stream, version = event["stream_id"], event["version"]
            known = streams.get(stream)
            if known is None and version == 1:
                known = (0, GENESIS.hex())
            if known is not None:
                if version != known[0] + 1:
                    raise Broken(f"version {version} of {stream} follows version {known[0]}")
                if link(bytes.fromhex(known[1]), event) != hex_hash(event, "stream_hash"):
                    raise Broken("changed: stream_hash does not match the event")
            streams[stream] = (version, hex_hash(event, "stream_hash"))
            if anchor and anchor[0] == position and event["hash"] != anchor[1]:
                raise Broken(f"the hash here is not the anchor's {anchor[1]}")
        except (KeyError, TypeError, ValueError) as error:
            raise Broken(f"unreadable field: {error!r}") from error
        except Broken as broken:
            raise Broken(f"position {position}: {broken}") from None
        before = event
    if anchor and not any(e["position"] == anchor[0] for e in events):
        raise Broken(f"the anchor's position {anchor[0]} is not in the export")
    return len(events)


def read(path):
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with stream:
        return [json.loads(line) for line in stream if line.strip()]


def parse_anchor(value):
    position, _, digest = value.partition(":")
    if not position.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise argparse.ArgumentTypeError("expected POSITION:HASH (64 hexadecimal digits)")
    return int(position), digest


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("export", help="the JSON lines file, or - for standard input")
    parser.add_argument("--anchor", type=parse_anchor, help="POSITION:HASH kept earlier")
    arguments = parser.parse_args()
    try:
        events = read(arguments.export)
    except (OSError, ValueError) as error:
        print(f"cannot read {arguments.export}: {error}", file=sys.stderr)
        return 2
    try:
        count = check(events, arguments.anchor)
    except Broken as broken:
        print(f"not intact: {broken}")
        return 1
    print(f"intact: {count} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
