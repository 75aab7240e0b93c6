// TlvTable: a bridge's Geneve TLV mapping table, (option class, type,
// length) -> tun_metadataN, as `ovs-ofctl add-tlv-map`/`del-tlv-map` edit it
// (NXT_TLV_TABLE_MOD) and `dump-tlv-map` reads it (NXT_TLV_TABLE_REQUEST).
//
// hsw has no tunnels yet, so nothing matches on tun_metadata and the table
// is not consulted by the classifier or translation; it is kept so that
// Open vSwitch's ovs-save, which saves it with dump-tlv-map and restores it
// with add-tlv-map before the groups and flows, round-trips through hsw.
//
// Semantics follow Open vSwitch (lib/tun-metadata.c): a table mod is applied
// all or nothing; ADD refuses an index that is already mapped
// (NXTTMFC_ALREADY_MAPPED, even to the identical option: OVS does so too),
// an option already mapped to another index (NXTTMFC_DUP_ENTRY) and a total
// of option lengths over 256 bytes (NXTTMFC_TABLE_FULL); DELETE of an index
// that is not mapped is not an error; CLEAR empties the table.  Option
// lengths and indexes are checked by the codec (NXTTMFC_BAD_OPT_LEN,
// NXTTMFC_BAD_FIELD_IDX).  The table lives as long as its ConnManager (one
// per bridge); it is not journaled: a restarted hsw-vswitchd starts empty,
// as ovs-vswitchd does, and the restore script re-adds it.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "openflow/ofp_codec.h"

namespace hsw::ofproto {

class TlvTable {
 public:
  // Applies `mod`; on error nothing changed and the error is the one OVS
  // would send.
  ofp::OfpResult<void> Apply(const ofp::TlvTableMod& mod);
  // The NXT_TLV_TABLE_REPLY body: limits and the mappings by index.
  ofp::TlvTableReply Reply() const;
  // Option bytes in use (at most nx::kTlvMaxOptionSpace).
  size_t used_space() const;

 private:
  std::array<std::optional<ofp::TlvMap>, ofp::nx::kTlvMaxFields> entries_;
};

}  // namespace hsw::ofproto
