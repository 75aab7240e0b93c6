// OpenFlow codec, part 5 of 5: names and one-line descriptions of
// messages and errors, for logs and for hsw-ctl.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "openflow/ofp_codec_internal.h"

namespace hsw::ofp {

using namespace detail;  // NOLINT(build/namespaces): the codec's own internals

namespace {

const char* CommandName(FlowModCommand c) {
  switch (c) {
    case FlowModCommand::kAdd:
      return "add";
    case FlowModCommand::kModify:
      return "modify";
    case FlowModCommand::kModifyStrict:
      return "modify_strict";
    case FlowModCommand::kDelete:
      return "delete";
    case FlowModCommand::kDeleteStrict:
      return "delete_strict";
  }
  return "?";
}

}  // namespace

const char* MessageTypeName(uint8_t type) {
  static constexpr const char* kNames[] = {"HELLO",
                                           "ERROR",
                                           "ECHO_REQUEST",
                                           "ECHO_REPLY",
                                           "EXPERIMENTER",
                                           "FEATURES_REQUEST",
                                           "FEATURES_REPLY",
                                           "GET_CONFIG_REQUEST",
                                           "GET_CONFIG_REPLY",
                                           "SET_CONFIG",
                                           "PACKET_IN",
                                           "FLOW_REMOVED",
                                           "PORT_STATUS",
                                           "PACKET_OUT",
                                           "FLOW_MOD",
                                           "GROUP_MOD",
                                           "PORT_MOD",
                                           "TABLE_MOD",
                                           "MULTIPART_REQUEST",
                                           "MULTIPART_REPLY",
                                           "BARRIER_REQUEST",
                                           "BARRIER_REPLY",
                                           "QUEUE_GET_CONFIG_REQUEST",
                                           "QUEUE_GET_CONFIG_REPLY",
                                           "ROLE_REQUEST",
                                           "ROLE_REPLY",
                                           "GET_ASYNC_REQUEST",
                                           "GET_ASYNC_REPLY",
                                           "SET_ASYNC",
                                           "METER_MOD",
                                           "ROLE_STATUS",
                                           "TABLE_STATUS",
                                           "REQUESTFORWARD",
                                           "BUNDLE_CONTROL",
                                           "BUNDLE_ADD_MESSAGE"};
  if (type < sizeof(kNames) / sizeof(kNames[0])) return kNames[type];
  return "UNKNOWN";
}

std::string ErrorName(uint16_t type, uint16_t code) {
  struct Name {
    uint16_t type, code;
    const char* name;
  };
  static constexpr Name kNames[] = {
      {0, 0, "OFPHFC_INCOMPATIBLE"},
      {0, 1, "OFPHFC_EPERM"},
      {1, 0, "OFPBRC_BAD_VERSION"},
      {1, 1, "OFPBRC_BAD_TYPE"},
      {1, 2, "OFPBRC_BAD_MULTIPART"},
      {1, 3, "OFPBRC_BAD_EXPERIMENTER"},
      {1, 4, "OFPBRC_BAD_EXP_TYPE"},
      {1, 5, "OFPBRC_EPERM"},
      {1, 6, "OFPBRC_BAD_LEN"},
      {1, 7, "OFPBRC_BUFFER_EMPTY"},
      {1, 8, "OFPBRC_BUFFER_UNKNOWN"},
      {1, 9, "OFPBRC_BAD_TABLE_ID"},
      {1, 10, "OFPBRC_IS_SLAVE"},
      {1, 11, "OFPBRC_BAD_PORT"},
      {1, 12, "OFPBRC_BAD_PACKET"},
      {2, 0, "OFPBAC_BAD_TYPE"},
      {2, 1, "OFPBAC_BAD_LEN"},
      {2, 2, "OFPBAC_BAD_EXPERIMENTER"},
      {2, 3, "OFPBAC_BAD_EXP_TYPE"},
      {2, 4, "OFPBAC_BAD_OUT_PORT"},
      {2, 5, "OFPBAC_BAD_ARGUMENT"},
      {2, 6, "OFPBAC_EPERM"},
      {2, 7, "OFPBAC_TOO_MANY"},
      {2, 9, "OFPBAC_BAD_OUT_GROUP"},
      {2, 10, "OFPBAC_MATCH_INCONSISTENT"},
      {2, 13, "OFPBAC_BAD_SET_TYPE"},
      {2, 14, "OFPBAC_BAD_SET_LEN"},
      {2, 15, "OFPBAC_BAD_SET_ARGUMENT"},
      {3, 0, "OFPBIC_UNKNOWN_INST"},
      {3, 1, "OFPBIC_UNSUP_INST"},
      {3, 2, "OFPBIC_BAD_TABLE_ID"},
      {3, 5, "OFPBIC_BAD_EXPERIMENTER"},
      {3, 7, "OFPBIC_BAD_LEN"},
      {4, 0, "OFPBMC_BAD_TYPE"},
      {4, 1, "OFPBMC_BAD_LEN"},
      {4, 5, "OFPBMC_BAD_WILDCARDS"},
      {4, 6, "OFPBMC_BAD_FIELD"},
      {4, 7, "OFPBMC_BAD_VALUE"},
      {4, 8, "OFPBMC_BAD_MASK"},
      {4, 9, "OFPBMC_BAD_PREREQ"},
      {4, 10, "OFPBMC_DUP_FIELD"},
      {5, 0, "OFPFMFC_UNKNOWN"},
      {5, 1, "OFPFMFC_TABLE_FULL"},
      {5, 2, "OFPFMFC_BAD_TABLE_ID"},
      {5, 3, "OFPFMFC_OVERLAP"},
      {5, 4, "OFPFMFC_EPERM"},
      {5, 5, "OFPFMFC_BAD_TIMEOUT"},
      {5, 6, "OFPFMFC_BAD_COMMAND"},
      {5, 7, "OFPFMFC_BAD_FLAGS"},
      {11, 2, "OFPRRFC_BAD_ROLE"},
      {0xffff, 2300, "OFPBFC_UNKNOWN"},
      {0xffff, 2301, "OFPBFC_EPERM"},
      {0xffff, 2302, "OFPBFC_BAD_ID"},
      {0xffff, 2303, "OFPBFC_BUNDLE_EXIST"},
      {0xffff, 2304, "OFPBFC_BUNDLE_CLOSED"},
      {0xffff, 2305, "OFPBFC_OUT_OF_BUNDLES"},
      {0xffff, 2306, "OFPBFC_BAD_TYPE"},
      {0xffff, 2307, "OFPBFC_BAD_FLAGS"},
      {0xffff, 2308, "OFPBFC_MSG_BAD_LEN"},
      {0xffff, 2310, "OFPBFC_MSG_UNSUP"},
      {0xffff, 2313, "OFPBFC_MSG_FAILED"},
      {13, 5, "OFPTFFC_EPERM"},
      {6, 3, "OFPGMFC_OUT_OF_GROUPS"},
      {6, 8, "OFPGMFC_UNKNOWN_GROUP"},
      {6, 11, "OFPGMFC_BAD_COMMAND"},
      {1, 13, "OFPBRC_BAD_XID"},
      // OpenFlow 1.4's OFPET_BUNDLE_FAILED.
      {17, 0, "OFPBFC_UNKNOWN"},
      {17, 1, "OFPBFC_EPERM"},
      {17, 2, "OFPBFC_BAD_ID"},
      {17, 3, "OFPBFC_BUNDLE_EXIST"},
      {17, 4, "OFPBFC_BUNDLE_CLOSED"},
      {17, 5, "OFPBFC_OUT_OF_BUNDLES"},
      {17, 6, "OFPBFC_BAD_TYPE"},
      {17, 7, "OFPBFC_BAD_FLAGS"},
      {17, 8, "OFPBFC_MSG_BAD_LEN"},
      {17, 9, "OFPBFC_MSG_BAD_XID"},
      {17, 10, "OFPBFC_MSG_UNSUP"},
      {17, 13, "OFPBFC_MSG_FAILED"},
      // Nicira experimenter errors (the ONF ones are 2300 and up).
      {0xffff, 16, "NXTTMFC_BAD_COMMAND"},
      {0xffff, 17, "NXTTMFC_BAD_OPT_LEN"},
      {0xffff, 18, "NXTTMFC_BAD_FIELD_IDX"},
      {0xffff, 19, "NXTTMFC_TABLE_FULL"},
      {0xffff, 20, "NXTTMFC_ALREADY_MAPPED"},
      {0xffff, 21, "NXTTMFC_DUP_ENTRY"},
      {0xffff, 38, "NXTTMFC_INVALID_TLV_DEL"},
  };
  for (const Name& n : kNames) {
    if (n.type == type && n.code == code) return n.name;
  }
  return fmt::format("type {} code {}", type, code);
}

std::string FormatMessage(const OfpMessage& m) {
  std::string out =
      fmt::format("{} v0x{:02x} xid=0x{:x}", MessageTypeName(m.type()), m.version, m.xid);
  std::visit(
      [&](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, Hello>) {
          out += fmt::format(" bitmap=0x{:x}", b.version_bitmap);
        } else if constexpr (std::is_same_v<T, ErrorMsg>) {
          out += fmt::format(" {} ({} data bytes)", ErrorName(b.type, b.code), b.data.size());
        } else if constexpr (std::is_same_v<T, FlowMod>) {
          out += fmt::format(" {} table={} priority={} cookie=0x{:x}", CommandName(b.command),
                             b.table_id, b.priority, b.cookie);
          if (!IsZero(b.match.mask)) out += " " + FormatDpKey(b.match.key, &b.match.mask);
          out += fmt::format(" apply={} actions", b.instructions.apply.size());
        } else if constexpr (std::is_same_v<T, MultipartRequest> ||
                             std::is_same_v<T, MultipartReply>) {
          out += fmt::format(" type={} flags=0x{:x}", b.mp_type(), b.flags);
        } else if constexpr (std::is_same_v<T, PacketIn>) {
          out += fmt::format(" reason={} table={} cookie=0x{:x} total_len={} data={}", b.reason,
                             b.table_id, b.cookie, b.total_len, b.data.size());
        } else if constexpr (std::is_same_v<T, PacketOut>) {
          out += fmt::format(" in_port=0x{:x} actions={} data={}", b.in_port, b.actions.size(),
                             b.data.size());
        } else if constexpr (std::is_same_v<T, PortStatus>) {
          out += fmt::format(" reason={} port={} ({})", b.reason, b.desc.port_no, b.desc.name);
        } else if constexpr (std::is_same_v<T, RoleRequest> || std::is_same_v<T, RoleReply>) {
          out += fmt::format(" role={} generation={}", b.role, b.generation_id);
        } else if constexpr (std::is_same_v<T, BundleControl>) {
          out += fmt::format(" bundle_control id={} type={} flags=0x{:x}", b.bundle_id, b.type,
                             b.flags);
        } else if constexpr (std::is_same_v<T, BundleAdd>) {
          out += fmt::format(" bundle_add id={} {} bytes", b.bundle_id, b.message.size());
        } else if constexpr (std::is_same_v<T, GroupMod>) {
          out += fmt::format(" group_mod command={} type={} group_id={}", b.command, b.type,
                             b.group_id);
        } else if constexpr (std::is_same_v<T, TlvTableMod>) {
          out += fmt::format(" tlv_table_mod command={} maps={}", b.command, b.maps.size());
        } else if constexpr (std::is_same_v<T, TlvTableReply>) {
          out += fmt::format(" tlv_table_reply maps={}", b.maps.size());
        }
      },
      m.body);
  return out;
}

}  // namespace hsw::ofp
