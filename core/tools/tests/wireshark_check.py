#!/usr/bin/env python3
"""wireshark_check.py - compare the dissector's view of a capture with the truth.

Usage: wireshark_check.py CAP.pdml CAP2.pdml PAYLOAD.tsv SENT.txt IPC_PORT RAW_PORT

CAP.pdml and CAP2.pdml are tshark's PDML of the capture with kcoro.lua (one
pass and two passes); PAYLOAD.tsv is the TCP payload of every segment
(srcport, dstport, seq, hex) as tshark shows it without the dissector;
SENT.txt the "key value" lines kcoro-wire-session printed. The frames are
parsed again here from the raw payload (core/docs/WIRE.md), every decoded
frame must equal its parsed twin field by field, both passes must agree,
and the session's frames must be the ones the processes sent. Prints a
one-line summary; exits 1 with the differences otherwise.
"""
import struct
import sys
import xml.etree.ElementTree as ET

NAMES = {1: "HELLO", 2: "PING", 3: "PONG", 4: "GOAWAY", 5: "REQUEST", 6: "REPLY",
         7: "CANCEL", 8: "DATA"}
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)
    return ok


# ------------------------------------------------------------ the truth

def parse_streams(tsv):
    """Every frame of every direction, parsed from the raw TCP payload."""
    streams, next_seq = {}, {}
    for line in open(tsv):
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 4 or not parts[3]:
            continue
        sport, dport, seq, hexdata = int(parts[0]), int(parts[1]), int(parts[2]), parts[3]
        key = (sport, dport)
        data = bytes.fromhex(hexdata.replace(":", ""))
        want = next_seq.get(key, seq)
        if seq + len(data) <= want:
            continue  # a retransmission
        data = data[max(0, want - seq):]
        streams[key] = streams.get(key, b"") + data
        next_seq[key] = max(want, seq) + len(data)
    frames = {}
    for key, buf in streams.items():
        out, off, open_msg = [], 0, None
        while off + 16 <= len(buf):
            ver, typ, flags, chan, fid, n = struct.unpack_from(">BBHIII", buf, off)
            body = buf[off + 16:off + 16 + n]
            check(len(body) == n, "%s: a frame cut short at offset %d" % (key, off))
            cont = open_msg == (typ, fid)
            open_msg = (typ, fid) if flags & 1 else None
            fr = {"version": ver, "type": typ, "flags": flags, "chan": chan, "id": fid, "len": n,
                  "cont": cont, "body": body}
            fr.update(parse_body(typ, body, cont))
            out.append(fr)
            off += 16 + n
        check(off == len(buf), "%s: %d bytes after the last whole frame" % (key, len(buf) - off))
        frames[key] = out
    return frames


def parse_body(typ, body, cont):
    f = {}
    if cont:
        return f
    if typ == 1 and len(body) >= 24:
        magic, vmin, vmax, next_, feat, mf, mm, res = struct.unpack_from(">IBBHIIII", body)
        f.update(magic=magic, ver_min=vmin, ver_max=vmax, n_ext=next_, features=feat,
                 max_frame=mf, max_msg=mm, reserved=res, ext=[])
        off = 24
        for _ in range(next_):
            et, el = struct.unpack_from(">HH", body, off)
            f["ext"].append((et, el, body[off + 4:off + 4 + el]))
            off += 4 + el
    elif typ in (5, 6) and len(body) >= 8:
        cmd, st, dl = struct.unpack_from(">HHI", body)
        f.update(cmd=cmd, status=st, deadline=dl, data=body[8:])
    elif typ == 4 and len(body) == 8:
        st, valid = struct.unpack_from(">II", body)
        f.update(goaway_status=st, id_valid=valid)
    return f


# ------------------------------------------------------------ the dissector's view

def fields_of(proto):
    got = {}
    for el in proto.iter("field"):
        name = el.get("name")
        val = el.get("value") if name in ("kcoro.rpc.data", "kcoro.data", "kcoro.hello.ext.value") \
            else el.get("show")
        got.setdefault(name, []).append(val)
    return got


def decoded(pdml):
    frames = {}
    for pkt in ET.parse(pdml).getroot().iter("packet"):
        ports = None
        for proto in pkt.findall("proto"):
            if proto.get("name") == "tcp":
                f = fields_of(proto)
                ports = (int(f["tcp.srcport"][0]), int(f["tcp.dstport"][0]))
            if proto.get("name") == "kcoro":
                check(ports is not None, "a kcoro frame outside TCP")
                frames.setdefault(ports, []).append(fields_of(proto))
    return frames


def num(f, name):
    v = f.get(name)
    if v is None:
        return None
    s = v[0]
    return int(s, 16) if s.startswith("0x") else int(s)


def data_of(f, name):
    v = f.get(name)
    return bytes.fromhex(v[0]) if v else b""


def compare(key, i, t, d):
    where = "%s frame %d (%s id %d)" % (key, i, NAMES.get(t["type"], t["type"]), t["id"])
    for name, field in (("version", "kcoro.version"), ("type", "kcoro.type"),
                        ("flags", "kcoro.flags"), ("chan", "kcoro.chan_id"), ("id", "kcoro.id"),
                        ("len", "kcoro.len")):
        check(num(d, field) == t[name], "%s: %s %s, expected %s" % (where, field, num(d, field), t[name]))
    check(num(d, "kcoro.flags.more") == (t["flags"] & 1), where + ": kcoro.flags.more")
    check(num(d, "kcoro.continuation") == int(t["cont"]), where + ": kcoro.continuation")
    typ = t["type"]
    if t["cont"]:
        body = data_of(d, "kcoro.data" if typ == 8 else "kcoro.rpc.data")
        check(body == t["body"], where + ": continuation bytes")
        check("kcoro.rpc.cmd" not in d and "kcoro.hello.magic" not in d,
              where + ": a continuation decoded as a first fragment")
        return
    if typ == 1:
        for name in ("magic", "ver_min", "ver_max", "n_ext", "features", "max_frame", "max_msg",
                     "reserved"):
            check(num(d, "kcoro.hello." + name) == t[name], "%s: kcoro.hello.%s" % (where, name))
        for bit, name in ((1, "rpc"), (2, "ping"), (4, "data")):
            check(num(d, "kcoro.hello.features." + name) == int(bool(t["features"] & bit)),
                  "%s: feature %s" % (where, name))
        types = [int(x, 16) for x in d.get("kcoro.hello.ext.type", [])]
        lens = [int(x) for x in d.get("kcoro.hello.ext.len", [])]
        vals = [bytes.fromhex(x) for x in d.get("kcoro.hello.ext.value", [])]
        check(list(zip(types, lens, vals)) == t["ext"], where + ": extensions")
    elif typ in (5, 6):
        check(num(d, "kcoro.rpc.cmd") == t["cmd"], where + ": cmd")
        check(num(d, "kcoro.rpc.status") == t["status"], where + ": status")
        check(num(d, "kcoro.rpc.deadline_us") == t["deadline"], where + ": deadline")
        check(num(d, "kcoro.rpc.no_deadline") == int(t["deadline"] == 0xffffffff), where + ": no_deadline")
        check(data_of(d, "kcoro.rpc.data") == t["data"], where + ": argument or result bytes")
    elif typ == 4:
        check(num(d, "kcoro.goaway.status") == t["goaway_status"], where + ": GOAWAY reason")
        check(num(d, "kcoro.goaway.id_valid") == t["id_valid"], where + ": GOAWAY id_valid")
    elif typ == 8:
        check(data_of(d, "kcoro.data") == t["body"], where + ": DATA bytes")


# ------------------------------------------------------------ the session

def session(frames, sent, ipc, raw):
    cs = [f for k, v in frames.items() if k[1] == ipc for f in v]   # client -> server
    sc = [f for k, v in frames.items() if k[0] == ipc for f in v]   # server -> client
    rc = [f for k, v in frames.items() if k[1] == raw for f in v]
    rs = [f for k, v in frames.items() if k[0] == raw for f in v]

    def of(lst, typ, fid=None):
        return [f for f in lst if f["type"] == typ and (fid is None or f["id"] == fid)]

    def hello(f):
        return (f["n_ext"], [(e[0], e[1]) for e in f["ext"]], f["features"], f["max_frame"])

    check([hello(f) for f in of(cs, 1)] == [(1, [(0x7402, 64)], 7, 65536), (0, [], 3, 16384)],
          "IPC client HELLOs: %s" % [hello(f) for f in of(cs, 1)])
    check([hello(f) for f in of(sc, 1)] ==
          [(1, [(0x7401, 32)], 7, 65536), (1, [(0x7402, 32)], 7, 65536), (0, [], 3, 16384)],
          "IPC server HELLOs: %s" % [hello(f) for f in of(sc, 1)])
    for f in of(cs, 1) + of(sc, 1) + of(rc, 1) + of(rs, 1):
        check(f["magic"] == 0x4b43524f and f["ver_min"] == 1 and f["ver_max"] == 1, "HELLO header")
    pings, pongs = [f["id"] for f in of(cs, 2)], [f["id"] for f in of(sc, 3)]
    check(len(pongs) >= 1 and all(p in pings for p in pongs), "PING %s / PONG %s" % (pings, pongs))

    def one(lst, typ, fid, what):
        got = of(lst, typ, fid)
        check(len(got) == 1, "%s: %d frames" % (what, len(got)))
        return got[0] if got else {"cmd": None, "status": None, "deadline": None, "data": None,
                                    "chan": None, "len": None, "flags": None}

    e = sent["client.echo"]
    req, rep = one(cs, 5, e, "echo REQUEST"), one(sc, 6, e, "echo REPLY")
    check(req["chan"] == 5 and req["cmd"] == 1 and req["status"] == 0 and req["data"] == b"kcoro says hello"
          and 0 < req["deadline"] <= 5000000, "echo REQUEST fields")
    check(rep["chan"] == 5 and rep["cmd"] == 1 and rep["status"] == 0 and rep["deadline"] == 0
          and rep["data"] == b"kcoro says hello", "echo REPLY fields")

    b = sent["client.big"]
    for lst, typ, what in ((cs, 5, "big REQUEST"), (sc, 6, "big REPLY")):
        parts = of(lst, typ, b)
        check(len(parts) >= 3, "%s: %d fragments" % (what, len(parts)))
        check(sum(p["len"] for p in parts) == 40008, what + ": 40,008 bytes in all")
        check(all(p["len"] <= 16384 for p in parts), what + ": a fragment above max_frame")
        check([p["flags"] for p in parts] == [1] * (len(parts) - 1) + [0], what + ": MORE flags")
        check([p["cont"] for p in parts] == [False] + [True] * (len(parts) - 1), what + ": continuations")
        if parts:
            check(parts[0]["cmd"] == 1 and parts[0]["chan"] == 6, what + ": cmd and chan")
            check(parts[0]["deadline"] == (0xffffffff if typ == 5 else 0), what + ": deadline")
    n = sent["client.nobody"]
    check(one(cs, 5, n, "unserved REQUEST")["cmd"] == 99, "unserved REQUEST cmd")
    r = one(sc, 6, n, "unserved REPLY")
    check(r["cmd"] == 99 and r["status"] == 10, "unserved REPLY: status %s, not ENOTSUP" % r["status"])
    c = sent["client.cancel"]
    r = one(cs, 5, c, "cancelled REQUEST")
    check(r["cmd"] == 2 and r["deadline"] == 0xffffffff, "cancelled REQUEST fields")
    check(one(cs, 7, c, "CANCEL")["len"] == 0, "CANCEL length")
    w = sent["server.whoami"]
    check(one(sc, 5, w, "whoami REQUEST")["cmd"] == 3, "whoami REQUEST cmd")
    r = one(cs, 6, w, "whoami REPLY")
    check(r["cmd"] == 3 and r["status"] == 0 and r["data"] == b"client", "whoami REPLY fields")
    g = one(cs, 4, w, "client GOAWAY")
    check(g.get("goaway_status") == 0 and g.get("id_valid") == 1 and g["len"] == 8, "GOAWAY fields")

    want = [(1, 0, b"first message", False), (2, 1, b"second message, part one; ", False),
            (2, 0, b"part two", True)]
    for lst, what in ((rc, "DATA sent"), (rs, "DATA echoed")):
        check([hello(f) for f in of(lst, 1)] == [(0, [], 4, 16384)], what + ": HELLO")
        got = [(f["id"], f["flags"], f["body"], f["cont"]) for f in of(lst, 8)]
        check(got == want, "%s: %s" % (what, got))
        check(all(f["chan"] == 7 for f in of(lst, 8)), what + ": channel 7")
    return cs + sc + rc + rs


def main():
    pdml, pdml2, tsv, sent_file, ipc, raw = sys.argv[1:7]
    ipc, raw = int(ipc), int(raw)
    sent = {}
    for line in open(sent_file):
        k, v = line.split()
        sent[k] = int(v)
    truth = parse_streams(tsv)
    view, view2 = decoded(pdml), decoded(pdml2)
    check(set(truth) == set(view), "directions: parsed %s, decoded %s" % (sorted(truth), sorted(view)))
    total = 0
    for key, frames in truth.items():
        d = view.get(key, [])
        check(len(d) == len(frames), "%s: %d frames parsed, %d decoded" % (key, len(frames), len(d)))
        for i, (t, df) in enumerate(zip(frames, d)):
            compare(key, i, t, df)
        total += len(frames)
    check(view == view2, "one pass and two passes decode differently")
    every = session(truth, sent, ipc, raw)
    types = sorted({f["type"] for f in every})
    check(types == list(range(1, 9)), "frame types seen: %s" % types)
    if problems:
        print("\n".join(problems[:40]))
        return 1
    counts = {}
    for f in every:
        counts[NAMES[f["type"]]] = counts.get(NAMES[f["type"]], 0) + 1
    print("%d frames in 2 sessions decoded field by field (%s), fragments and continuations, "
          "HELLO extensions, RPC prefix, GOAWAY; one and two passes agree" %
          (total, ", ".join("%s %d" % (k, counts[k]) for k in NAMES.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
