-- kcoro.lua - Wireshark dissector for kcoro's wire protocol (core/docs/WIRE.md).
--
-- Decodes the frames every kcoro transport carries: the 16-byte header
-- (version, type, flags, chan_id, id, len), the HELLO body with its
-- extensions (the TCP adapter's challenge and proofs among them), the RPC
-- prefix of REQUEST and REPLY (cmd, status by its portable name, the
-- relative deadline), GOAWAY's reason and validity word, DATA, and the
-- reliability layer's SEG and ACK (CRC32C, timestamps, window, SACK). Frames
-- are reassembled across TCP segments. A message split into fragments
-- (KC_FRAME_F_MORE) is shown fragment by fragment: only the first carries
-- the RPC prefix, the others are marked as continuations.
--
-- Where it applies: TCP connections that open with a HELLO frame are found
-- by a heuristic; any other TCP port can be decoded with "Decode As..." or
-- listed in the protocol's "TCP ports" preference.
--
-- Use: wireshark -X lua_script:core/tools/wireshark/kcoro.lua, or copy the
-- file into ~/.local/lib/wireshark/plugins/. Tested with tshark 4.0
-- (core/tools/tests/test_wireshark.sh).

local kcoro = Proto("kcoro", "kcoro wire protocol")

local HDR = 16
local HELLO_MAGIC = 0x4b43524f -- "KCRO"
local HELLO_MIN, HELLO_MAX = 24, 512
local PREFIX = 8
local NO_DEADLINE = 0xffffffff
local FLAG_MORE, FLAG_CREDIT, FLAGS_KNOWN = 0x0001, 0x0002, 0x0003

local T_HELLO, T_PING, T_PONG, T_GOAWAY = 1, 2, 3, 4
local T_REQUEST, T_REPLY, T_CANCEL, T_DATA = 5, 6, 7, 8
local T_SEG, T_ACK = 10, 11 -- the reliability layer (rel:, core/docs/RELIABILITY.md)

local frame_types = {
    [T_HELLO] = "HELLO", [T_PING] = "PING", [T_PONG] = "PONG", [T_GOAWAY] = "GOAWAY",
    [T_REQUEST] = "REQUEST", [T_REPLY] = "REPLY", [T_CANCEL] = "CANCEL", [T_DATA] = "DATA",
    [T_SEG] = "SEG", [T_ACK] = "ACK",
}

-- kc_rpc_wire_status_t (kcoro/ipc.h).
local wire_status = {
    [0] = "OK", [1] = "EAGAIN", [2] = "ETIME", [3] = "ECANCELED", [4] = "EPIPE",
    [5] = "ECONNREFUSED", [6] = "ECONNRESET", [7] = "EMSGSIZE", [8] = "EPROTO",
    [9] = "EBUSY", [10] = "ENOTSUP", [11] = "EINVAL", [12] = "ENOMEM", [0xffff] = "OTHER",
}

-- HELLO extension types known to kcoro (kcoro/tcp.h).
local ext_types = { [0x7401] = "tcp challenge", [0x7402] = "tcp proof" }

local f = kcoro.fields
f.version = ProtoField.uint8("kcoro.version", "Version", base.DEC)
f.type = ProtoField.uint8("kcoro.type", "Type", base.DEC, frame_types)
f.flags = ProtoField.uint16("kcoro.flags", "Flags", base.HEX)
f.flag_more = ProtoField.bool("kcoro.flags.more", "More fragments follow", 16, nil, FLAG_MORE)
f.flag_credit = ProtoField.bool("kcoro.flags.credit", "Credit in front of the elements", 16, nil, FLAG_CREDIT)
f.data_credit_chan = ProtoField.uint32("kcoro.data.credit.chan", "Credited stream (0: connection)", base.HEX)
f.data_credit_limit = ProtoField.uint64("kcoro.data.credit.limit", "Credit limit (absolute)", base.DEC)
f.chan_id = ProtoField.uint32("kcoro.chan_id", "Channel id", base.DEC)
f.id = ProtoField.uint32("kcoro.id", "Id", base.DEC)
f.len = ProtoField.uint32("kcoro.len", "Payload length", base.DEC)
f.continuation = ProtoField.bool("kcoro.continuation", "Continuation of a fragmented message")

f.hello_magic = ProtoField.uint32("kcoro.hello.magic", "Magic", base.HEX)
f.hello_ver_min = ProtoField.uint8("kcoro.hello.ver_min", "Lowest version", base.DEC)
f.hello_ver_max = ProtoField.uint8("kcoro.hello.ver_max", "Highest version", base.DEC)
f.hello_n_ext = ProtoField.uint16("kcoro.hello.n_ext", "Extensions", base.DEC)
f.hello_features = ProtoField.uint32("kcoro.hello.features", "Features", base.HEX)
f.hello_feat_rpc = ProtoField.bool("kcoro.hello.features.rpc", "RPC", 32, nil, 0x1)
f.hello_feat_ping = ProtoField.bool("kcoro.hello.features.ping", "PING", 32, nil, 0x2)
f.hello_feat_data = ProtoField.bool("kcoro.hello.features.data", "DATA", 32, nil, 0x4)
f.hello_max_frame = ProtoField.uint32("kcoro.hello.max_frame", "Max frame", base.DEC)
f.hello_max_msg = ProtoField.uint32("kcoro.hello.max_msg", "Max message", base.DEC)
f.hello_reserved = ProtoField.uint32("kcoro.hello.reserved", "Reserved", base.HEX)
f.ext = ProtoField.none("kcoro.hello.ext", "Extension")
f.ext_type = ProtoField.uint16("kcoro.hello.ext.type", "Extension type", base.HEX, ext_types)
f.ext_len = ProtoField.uint16("kcoro.hello.ext.len", "Extension length", base.DEC)
f.ext_value = ProtoField.bytes("kcoro.hello.ext.value", "Extension value")

f.goaway_status = ProtoField.uint32("kcoro.goaway.status", "Reason", base.DEC, wire_status)
f.goaway_id_valid = ProtoField.uint32("kcoro.goaway.id_valid", "Last id valid", base.DEC)

f.rpc_cmd = ProtoField.uint16("kcoro.rpc.cmd", "Command", base.DEC)
f.rpc_status = ProtoField.uint16("kcoro.rpc.status", "Status", base.DEC, wire_status)
f.rpc_deadline = ProtoField.uint32("kcoro.rpc.deadline_us", "Deadline (us, relative)", base.DEC)
f.rpc_no_deadline = ProtoField.bool("kcoro.rpc.no_deadline", "No deadline")
f.rpc_data = ProtoField.bytes("kcoro.rpc.data", "Argument or result")

f.data = ProtoField.bytes("kcoro.data", "Message bytes")

f.rel_crc = ProtoField.uint32("kcoro.rel.crc32c", "CRC32C", base.HEX)
f.seg_ts = ProtoField.uint32("kcoro.rel.ts", "Timestamp (us)", base.DEC)
f.seg_data = ProtoField.bytes("kcoro.rel.stream", "Frame stream bytes")
f.ack_echo = ProtoField.uint32("kcoro.rel.echo", "Echoed timestamp (us)", base.DEC)
f.ack_window = ProtoField.uint32("kcoro.rel.window", "Window (segments)", base.DEC)
f.ack_blocks = ProtoField.uint32("kcoro.rel.blocks", "SACK blocks", base.DEC)
f.ack_start = ProtoField.uint32("kcoro.rel.sack_start", "SACK start", base.DEC)
f.ack_end = ProtoField.uint32("kcoro.rel.sack_end", "SACK end (exclusive)", base.DEC)

local e = {
    version = ProtoExpert.new("kcoro.expert.version", "Unknown wire version",
        expert.group.MALFORMED, expert.severity.ERROR),
    type = ProtoExpert.new("kcoro.expert.type", "Unknown frame type",
        expert.group.MALFORMED, expert.severity.ERROR),
    flags = ProtoExpert.new("kcoro.expert.flags", "Unknown flag bits",
        expert.group.MALFORMED, expert.severity.ERROR),
    length = ProtoExpert.new("kcoro.expert.length", "Payload length not allowed for this frame type",
        expert.group.MALFORMED, expert.severity.ERROR),
    hello = ProtoExpert.new("kcoro.expert.hello", "Malformed HELLO",
        expert.group.MALFORMED, expert.severity.ERROR),
}
kcoro.experts = { e.version, e.type, e.flags, e.length, e.hello }

kcoro.prefs.ports = Pref.range("TCP ports", "", "TCP ports always decoded as kcoro", 65535)

-- Fragment state. A frame whose predecessor in the same direction had
-- KC_FRAME_F_MORE continues that message. The first pass walks the frames
-- in order and records the answer per frame (packet number, header bytes,
-- occurrence); later passes (clicking a packet in Wireshark) read it back.
local more_by_dir = {}    -- direction key -> type and id of an open message, or nil
local cont_cache = {}     -- packet number -> header hex -> list of booleans
local seen_num, seen = -1, {}

local function direction(pinfo)
    return tostring(pinfo.src) .. ":" .. pinfo.src_port .. ">" .. tostring(pinfo.dst) .. ":" .. pinfo.dst_port
end

local function continuation(tvb, pinfo, ftype, flags, id)
    local hdr = tostring(tvb(0, HDR):bytes())
    if seen_num ~= pinfo.number then
        seen_num, seen = pinfo.number, {}
    end
    local k = (seen[hdr] or 0) + 1
    seen[hdr] = k
    local per = cont_cache[pinfo.number]
    if per == nil then
        per = {}
        cont_cache[pinfo.number] = per
    end
    local list = per[hdr]
    if list == nil then
        list = {}
        per[hdr] = list
    end
    if not pinfo.visited or list[k] == nil then
        if list[k] == nil then
            local dir = direction(pinfo)
            local open = more_by_dir[dir]
            list[k] = open ~= nil and open.type == ftype and open.id == id
            if bit32.band(flags, FLAG_MORE) ~= 0 then
                more_by_dir[dir] = { type = ftype, id = id }
            else
                more_by_dir[dir] = nil
            end
        end
        return list[k]
    end
    return list[((k - 1) % #list) + 1]
end

local function dissect_hello(tvb, pinfo, tree)
    local n = tvb:len()
    if n < HELLO_MIN then
        tree:add_proto_expert_info(e.hello, "HELLO shorter than 24 bytes")
        return
    end
    local magic = tree:add(f.hello_magic, tvb(0, 4))
    if tvb(0, 4):uint() ~= HELLO_MAGIC then
        magic:add_proto_expert_info(e.hello, "Bad magic")
    end
    tree:add(f.hello_ver_min, tvb(4, 1))
    tree:add(f.hello_ver_max, tvb(5, 1))
    tree:add(f.hello_n_ext, tvb(6, 2))
    local feat = tree:add(f.hello_features, tvb(8, 4))
    feat:add(f.hello_feat_rpc, tvb(8, 4))
    feat:add(f.hello_feat_ping, tvb(8, 4))
    feat:add(f.hello_feat_data, tvb(8, 4))
    tree:add(f.hello_max_frame, tvb(12, 4))
    tree:add(f.hello_max_msg, tvb(16, 4))
    tree:add(f.hello_reserved, tvb(20, 4))
    local off, n_ext = HELLO_MIN, tvb(6, 2):uint()
    for i = 1, n_ext do
        if off + 4 > n then
            tree:add_proto_expert_info(e.hello, "Extension " .. i .. " truncated")
            return
        end
        local etype, elen = tvb(off, 2):uint(), tvb(off + 2, 2):uint()
        local name = ext_types[etype] or string.format("0x%04x", etype)
        local sub = tree:add(f.ext, tvb(off, math.min(4 + elen, n - off)))
        sub:set_text(string.format("Extension %d: %s, %d bytes", i, name, elen))
        sub:add(f.ext_type, tvb(off, 2))
        sub:add(f.ext_len, tvb(off + 2, 2))
        if off + 4 + elen > n then
            sub:add_proto_expert_info(e.hello, "Extension value truncated")
            return
        end
        if elen > 0 then
            sub:add(f.ext_value, tvb(off + 4, elen))
        end
        off = off + 4 + elen
    end
    if off ~= n then
        tree:add_proto_expert_info(e.hello, (n - off) .. " bytes after the last extension")
    end
    pinfo.cols.info:append(string.format(" max_frame=%d ext=%d", tvb(12, 4):uint(), n_ext))
end

local function dissect_rpc(tvb, pinfo, tree, ftype)
    if tvb:len() < PREFIX then
        tree:add_proto_expert_info(e.length, "REQUEST and REPLY carry at least the 8-byte RPC prefix")
        return
    end
    local cmd, status, deadline = tvb(0, 2):uint(), tvb(2, 2):uint(), tvb(4, 4):uint()
    tree:add(f.rpc_cmd, tvb(0, 2))
    tree:add(f.rpc_status, tvb(2, 2))
    tree:add(f.rpc_deadline, tvb(4, 4))
    tree:add(f.rpc_no_deadline, deadline == NO_DEADLINE):set_generated()
    if tvb:len() > PREFIX then
        tree:add(f.rpc_data, tvb(PREFIX))
    end
    if ftype == T_REPLY then
        pinfo.cols.info:append(string.format(" cmd=%d status=%s", cmd,
            wire_status[status] or tostring(status)))
    else
        pinfo.cols.info:append(string.format(" cmd=%d deadline=%s", cmd,
            deadline == NO_DEADLINE and "none" or (deadline .. "us")))
    end
end

-- One whole frame (header and payload) in tvb.
local function dissect_frame(tvb, pinfo, root)
    pinfo.cols.protocol = "kcoro"
    local version, ftype = tvb(0, 1):uint(), tvb(1, 1):uint()
    local flags, chan, id, len = tvb(2, 2):uint(), tvb(4, 4):uint(), tvb(8, 4):uint(), tvb(12, 4):uint()
    local name = frame_types[ftype] or ("type " .. ftype)
    local tree = root:add(kcoro, tvb(), "kcoro " .. name)
    local v = tree:add(f.version, tvb(0, 1))
    if version ~= 1 then
        v:add_proto_expert_info(e.version)
    end
    local t = tree:add(f.type, tvb(1, 1))
    if frame_types[ftype] == nil then
        t:add_proto_expert_info(e.type)
    end
    local fl = tree:add(f.flags, tvb(2, 2))
    fl:add(f.flag_more, tvb(2, 2))
    fl:add(f.flag_credit, tvb(2, 2))
    if bit32.band(flags, bit32.bnot(FLAGS_KNOWN)) ~= 0 or
        (bit32.band(flags, FLAG_CREDIT) ~= 0 and ftype ~= T_DATA) then
        fl:add_proto_expert_info(e.flags)
    end
    tree:add(f.chan_id, tvb(4, 4))
    tree:add(f.id, tvb(8, 4))
    tree:add(f.len, tvb(12, 4))

    local cont = continuation(tvb, pinfo, ftype, flags, id)
    tree:add(f.continuation, cont):set_generated()
    local info = string.format("%s chan=%d id=%d len=%d", name, chan, id, len)
    if bit32.band(flags, FLAG_MORE) ~= 0 then
        info = info .. " [more]"
    end
    if cont then
        info = info .. " [continuation]"
    end
    local nth = seen.__frames or 0 -- frames of this packet shown so far
    seen.__frames = nth + 1
    if nth == 0 then
        pinfo.cols.info:set(info)
    else
        pinfo.cols.info:append(" | " .. info)
    end
    tree:append_text(string.format(", chan %d, id %d, %d bytes", chan, id, len))

    local p = tvb(HDR):tvb()
    if cont then
        if len > 0 then
            tree:add(ftype == T_DATA and f.data or f.rpc_data, p())
        end
    elseif ftype == T_HELLO then
        if len > HELLO_MAX then
            tree:add_proto_expert_info(e.length, "HELLO larger than 512 bytes")
        end
        dissect_hello(p, pinfo, tree)
    elseif ftype == T_PING or ftype == T_PONG or ftype == T_CANCEL then
        if len ~= 0 then
            tree:add_proto_expert_info(e.length, name .. " carries no payload")
        end
    elseif ftype == T_GOAWAY then
        if len ~= 8 then
            tree:add_proto_expert_info(e.length, "GOAWAY carries 8 bytes")
        else
            tree:add(f.goaway_status, p(0, 4))
            tree:add(f.goaway_id_valid, p(4, 4))
            pinfo.cols.info:append(" reason=" .. (wire_status[p(0, 4):uint()] or tostring(p(0, 4):uint())))
        end
    elseif ftype == T_REQUEST or ftype == T_REPLY then
        dissect_rpc(p, pinfo, tree, ftype)
    elseif ftype == T_DATA then
        if bit32.band(flags, FLAG_CREDIT) ~= 0 then
            if len <= 16 then
                tree:add_proto_expert_info(e.length, "a credit prefix needs 16 bytes and elements")
            else
                tree:add(f.data_credit_chan, p(4, 4))
                tree:add(f.data_credit_limit, p(8, 8))
                pinfo.cols.info:append(string.format(" credit=%d:%s", p(4, 4):uint(),
                    tostring(p(8, 8):uint64())))
                tree:add(f.data, p(16))
            end
        elseif len > 0 then
            tree:add(f.data, p())
        end
    elseif ftype == T_SEG then
        if len < 9 then
            tree:add_proto_expert_info(e.length, "SEG carries a CRC, a timestamp and data")
        else
            tree:add(f.rel_crc, p(0, 4))
            tree:add(f.seg_ts, p(4, 4))
            tree:add(f.seg_data, p(8))
        end
    elseif ftype == T_ACK then
        local n = len >= 16 and p(12, 4):uint() or -1
        if n < 0 or n > 8 or len ~= 16 + 8 * n then
            tree:add_proto_expert_info(e.length, "ACK carries 16 + 8n bytes, n <= 8")
        else
            tree:add(f.rel_crc, p(0, 4))
            tree:add(f.ack_echo, p(4, 4))
            tree:add(f.ack_window, p(8, 4))
            tree:add(f.ack_blocks, p(12, 4))
            for i = 0, n - 1 do
                tree:add(f.ack_start, p(16 + 8 * i, 4))
                tree:add(f.ack_end, p(20 + 8 * i, 4))
            end
        end
    end
    return tvb:len()
end

local function frame_len(tvb, pinfo, offset)
    return HDR + tvb(offset + 12, 4):uint()
end

function kcoro.dissector(tvb, pinfo, tree)
    dissect_tcp_pdus(tvb, tree, HDR, frame_len, dissect_frame, true)
    return tvb:len()
end

-- A TCP stream that opens with a HELLO frame: version 1, type HELLO, no
-- flags, a plausible length and the magic at the start of the body.
local function heuristic(tvb, pinfo, tree)
    if tvb:len() < HDR + 4 then
        return false
    end
    if tvb(0, 1):uint() ~= 1 or tvb(1, 1):uint() ~= T_HELLO or tvb(2, 2):uint() ~= 0 then
        return false
    end
    local len = tvb(12, 4):uint()
    if len < HELLO_MIN or len > HELLO_MAX or tvb(HDR, 4):uint() ~= HELLO_MAGIC then
        return false
    end
    pinfo.conversation = kcoro
    kcoro.dissector(tvb, pinfo, tree)
    return true
end
kcoro:register_heuristic("tcp", heuristic)

local tcp_port = DissectorTable.get("tcp.port")
tcp_port:add_for_decode_as(kcoro)
local registered = nil

function kcoro.prefs_changed()
    if registered ~= nil then
        tcp_port:remove(registered, kcoro)
    end
    registered = kcoro.prefs.ports
    if registered ~= nil and tostring(registered) ~= "" then
        tcp_port:add(registered, kcoro)
    end
end

function kcoro.init()
    more_by_dir, cont_cache, seen_num, seen = {}, {}, -1, {}
end
