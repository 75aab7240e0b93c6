// ovs-ofctl's flow syntax, both ways, so that users keep their flow files and
// their habits: `hsw-ctl add-flow br0 'ip,nw_dst=10.0.0.0/24,actions=output:2'`
// means what `ovs-ofctl add-flow` means, and `hsw-ctl dump-flows` prints what
// `ovs-ofctl -O OpenFlow13 dump-flows` prints, so that its output can be fed
// back to `add-flows` (statistics such as n_packets= and duration= are
// accepted and ignored).
//
// Concepts:
//  * A flow is "key[=value]" tokens separated by commas or white space; the
//    first "actions=" ends the match and everything after it is the action
//    list (apply-actions, then clear_actions, write_actions(...),
//    write_metadata:V[/M] and goto_table:N, in the OpenFlow 1.1+ order).
//  * ovs-ofctl names are generic where the FlowKey shares storage: tp_src is
//    the TCP, UDP or SCTP port, nw_src is an IPv4 address or the ARP SPA,
//    icmp_type is tp_src of an ICMP or ICMPv6 flow.  Prerequisites are checked
//    after the whole match is read (so `nw_dst=10.0.0.1,ip` is fine) and a
//    field without them is an error ("nw_dst requires ip or arp"), where
//    ovs-ofctl would silently drop it.
//  * Port names: a caller-supplied PortByName resolves names that are not
//    numbers or reserved names (LOCAL, CONTROLLER, IN_PORT, NORMAL, FLOOD,
//    ALL, TABLE, ANY); a PortName callback prints numbers as names.  Either may
//    be empty.
//  * Actions are checked against the match as ovs-ofctl checks them: pop_vlan
//    and set_field on VLAN fields need a tag (matched or pushed earlier),
//    dec_ttl and mod_nw_* need IP, mod_tp_* and set_field:..->tp_dst pick
//    TCP, UDP or SCTP from the match (ovs-ofctl would insist on tcp_dst).
//    mod_vlan_vid/mod_vlan_pcp push a tag first unless one is guaranteed.
//  * Parsed matches are normalized to what OpenFlow 1.3 can carry, as
//    ovs-ofctl does (key &= mask; VLAN priority only exact and only on a
//    tagged match; ICMP type/code masks cover 8 bits), and formatting prints
//    exactly what parses back to an equal value.  The unit tests check the
//    printed match and actions character by character against Debian's
//    ovs-ofctl when it is installed.
//
// Errors name the offending token and the flow:
//   "flow 'in_port=1,actions=oops': unknown action 'oops'".
// No input crashes the parser; nothing here throws.  All functions are pure
// and thread-safe (the callbacks are called on the caller's thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "openflow/ofp_types.h"

namespace hsw::ofp {

// Resolves a port name ("veth1") to its OpenFlow port number; nullopt if unknown.
using PortByName = std::function<std::optional<uint32_t>(std::string_view)>;
// Names an OpenFlow port number for printing; nullopt prints the number.
using PortName = std::function<std::optional<std::string>(uint32_t)>;

// --- Parsing ---

// An add-flow / mod-flows flow: match, table=, priority=, cookie=,
// idle_timeout=, hard_timeout=, flags (send_flow_rem, check_overlap,
// reset_counts, no_packet_counts, no_byte_counts) and actions= (required for
// add and modify).  table defaults to 0.  For add, cookie=V sets the cookie
// and a mask is an error; for modify, cookie=V/M selects flows by cookie.
Result<FlowMod> ParseFlowMod(std::string_view text, FlowModCommand command = FlowModCommand::kAdd,
                             const PortByName& ports = {});

// A del-flows match: fields, table= (default: all tables), cookie=V/M,
// out_port=, out_group=, priority= (used when strict).  No actions.
Result<FlowMod> ParseFlowDelete(std::string_view text, bool strict = false,
                                const PortByName& ports = {});

// A dump-flows filter: same syntax as del-flows.
Result<FlowStatsRequest> ParseFlowStatsRequest(std::string_view text, const PortByName& ports = {});

// A flow file for add-flows: one flow per line; blank lines and '#' comments
// skipped; a trailing backslash continues a line; a line may start with
// add, modify, modify_strict, delete or delete_strict (as ovs-ofctl allows),
// otherwise `command` applies.  Errors start with "line N: ".
Result<std::vector<FlowMod>> ParseFlowFile(std::string_view contents,
                                           FlowModCommand command = FlowModCommand::kAdd,
                                           const PortByName& ports = {});

// Just a match ("ip,in_port=1,nw_dst=10.0.0.0/24"); priority= etc. are errors.
Result<Match> ParseMatch(std::string_view text, const PortByName& ports = {});

// An action list as after "actions=" (instructions included).  `match` is the
// flow's match, used for action prerequisites (mod_tp_src needs tcp, udp or
// sctp; mod_vlan_vid on an untagged match pushes a tag first).
Result<Instructions> ParseInstructions(std::string_view text, const Match& match = {},
                                       const PortByName& ports = {});

// A port: number, reserved name (case-insensitive), "quoted" or plain name.
Result<uint32_t> ParsePort(std::string_view text, const PortByName& ports = {});

// --- Formatting (ovs-ofctl's OpenFlow 1.3 conventions) ---

// "LOCAL", "CONTROLLER", "5", or the callback's name (quoted when it could be
// mistaken for a number or a reserved name).
std::string FormatPort(uint32_t port, const PortName& names = {});

// "priority=100,tcp,in_port=1,nw_dst=10.0.0.0/24,tp_dst=80": priority first
// (omitted when 32768), then ovs-ofctl's protocol shorthand with the fields it
// implies dropped, then the fields in ovs-ofctl's order.  Empty for a
// catch-all at the default priority.
std::string FormatMatch(const Match& match, uint16_t priority = kDefaultPriority,
                        const PortName& names = {});

// "output:2,set_field:10.0.0.1->ip_dst,NORMAL"; "drop" when empty.
std::string FormatActions(const Actions& actions, const PortName& names = {});

// Apply-actions then the other instructions, as after "actions="; "drop" when
// there is nothing at all.
std::string FormatInstructions(const Instructions& instructions, const PortName& names = {});

// One line of `ovs-ofctl -O OpenFlow13 dump-flows`, with its leading space:
// " cookie=0x0, duration=5.123s, table=0, n_packets=10, n_bytes=980,
//  idle_timeout=10, priority=100,ip,in_port=1,nw_dst=10.0.0.0/24 actions=output:2"
// show_stats=false is ovs-ofctl's --no-stats: no duration or counters, and
// cookie and table only when nonzero.
std::string FormatFlowStats(const FlowStats& stats, const PortName& names = {},
                            bool show_stats = true);

// A form of the flow-mod that ParseFlowMod (add/modify) or ParseFlowDelete
// (delete commands) with the same command turns back into an equal FlowMod.
std::string FormatFlowMod(const FlowMod& flow_mod, const PortName& names = {});
// The same, appended to `text` (no line break): for save-flows, which writes
// every rule of a bridge into one buffer.
void AppendFlowMod(std::string& text, const FlowMod& flow_mod, const PortName& names = {});

// ovs-ofctl's duration: "5s", "5.123s", "5.000000001s".
std::string FormatDuration(uint32_t sec, uint32_t nsec);

}  // namespace hsw::ofp
