#!/usr/bin/env python3
"""An independent reader of AWS VPC Flow Logs records, for vpcep-sim's flow log tests.

Written apart from vpcep-sim's writer (another language, nothing shared but the format text): a
custom format as AWS's LogFormat (`${field} ${field} ...`, space-separated values) whose first
fields must be the version 2 default format, in AWS's order. Each value is checked as AWS documents
it ('-' where a value is unknown or not applicable); fields outside AWS's list are kept as text.

usage: aws-flow-log.py FORMAT FILE... -> a JSON array of records (dicts) on stdout; exit 1 and the
reason on stderr for any line that is not a valid record.
"""
import ipaddress
import json
import re
import sys

DEFAULT_V2 = ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
              "protocol", "packets", "bytes", "start", "end", "action", "log-status"]


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


def integer(v, lo, hi, name, dash=True):
    if v == "-" and dash:
        return None
    if not re.fullmatch(r"[0-9]+", v):
        raise ValueError(f"{name}: {v!r} is not an integer")
    n = int(v)
    if not lo <= n <= hi:
        raise ValueError(f"{name}: {n} is outside {lo}..{hi}")
    return n


def address(v, name):
    if v == "-":
        return None
    ipaddress.ip_address(v)
    return v


CHECK = {
    "version": lambda v: integer(v, 2, 10, "version", dash=False),
    "account-id": lambda v: None if v == "-" else v,
    "interface-id": lambda v: None if v == "-" else v,
    "srcaddr": lambda v: address(v, "srcaddr"),
    "dstaddr": lambda v: address(v, "dstaddr"),
    "srcport": lambda v: integer(v, 0, 65535, "srcport"),
    "dstport": lambda v: integer(v, 0, 65535, "dstport"),
    "protocol": lambda v: integer(v, 0, 255, "protocol"),
    "packets": lambda v: integer(v, 0, 2**63, "packets"),
    "bytes": lambda v: integer(v, 0, 2**63, "bytes"),
    "start": lambda v: integer(v, 0, 2**40, "start", dash=False),
    "end": lambda v: integer(v, 0, 2**40, "end", dash=False),
}


def parse_format(fmt):
    fields = re.findall(r"\$\{([a-z0-9-]+)\}", fmt)
    if " ".join("${%s}" % f for f in fields) != fmt.strip():
        fail(f"not a flow log format: {fmt!r}")
    if fields[:len(DEFAULT_V2)] != DEFAULT_V2:
        fail("the format does not begin with the version 2 default fields")
    return fields


def parse_line(fields, line):
    values = line.split(" ")
    if len(values) != len(fields):
        raise ValueError(f"{len(values)} values for {len(fields)} fields")
    rec = {}
    for f, v in zip(fields, values):
        if v == "":
            raise ValueError(f"{f}: empty value")
        rec[f] = CHECK[f](v) if f in CHECK else v
    if rec["action"] not in ("ACCEPT", "REJECT", "-"):
        raise ValueError(f"action: {rec['action']!r}")
    if rec["log-status"] not in ("OK", "NODATA", "SKIPDATA"):
        raise ValueError(f"log-status: {rec['log-status']!r}")
    if rec["start"] > rec["end"]:
        raise ValueError("start is after end")
    return rec


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    fields = parse_format(sys.argv[1])
    out = []
    for path in sys.argv[2:]:
        with open(path, encoding="ascii") as fh:
            for n, line in enumerate(fh, 1):
                if not line.endswith("\n"):
                    fail(f"{path}:{n}: a record cut short (no newline)")
                try:
                    rec = parse_line(fields, line[:-1])
                except ValueError as e:
                    fail(f"{path}:{n}: {e}: {line!r}")
                rec["_file"] = path
                out.append(rec)
    json.dump(out, sys.stdout)


main()
