// The Open_vSwitch database as hsw-vswitchd reads it: typed rows of the
// tables and columns ovs-vswitchd acts on (Debian's vswitch.ovsschema,
// Open_vSwitch 8.3.1), read from the client's replica.
//
// Hand-written, not generated from the schema as OVS's ovsdb-idlc does:
// hsw reads 6 tables and about 50 columns, and a reader that tolerates a
// column of the wrong shape (logged, the column treated as unset) is what
// keeps one bad value from stopping the whole switch.  The columns read are
// MonitoredColumns(); a server whose schema lacks one leaves it unset here
// (the client reports it in missing_columns()).
//
// Status columns hsw writes (ofport, error, link_state, cur_cfg...) are read
// too, so that the reconciler writes only values that changed.  external_ids
// is never read: ovs-vsctl and ovn-controller write it, and a change there
// must not wake hsw-vswitchd.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ovsdb/replica.h"

namespace hsw::ovsdb {

using StringMap = std::map<std::string, std::string>;

struct InterfaceRow {
  std::string uuid;
  std::string name;
  std::string type;  // "" = system
  StringMap options;
  std::optional<int64_t> ofport_request;
  std::optional<int64_t> mtu_request;
  // Written by the switch.
  std::optional<int64_t> ofport;
  std::optional<int64_t> ifindex;
  std::optional<int64_t> mtu;
  std::optional<std::string> mac_in_use;
  std::optional<std::string> admin_state;
  std::optional<std::string> link_state;
  std::optional<std::string> error;
};

struct PortRow {
  std::string uuid;
  std::string name;
  std::vector<std::string> interfaces;  // UUIDs
  std::optional<int64_t> tag;
};

struct ControllerRow {
  std::string uuid;
  std::string target;
  std::optional<int64_t> inactivity_probe;  // ms
  std::optional<int64_t> max_backoff;       // ms
  // Written by the switch.
  std::optional<bool> is_connected;
  std::optional<std::string> role;
  StringMap status;
};

struct BridgeRow {
  std::string uuid;
  std::string name;
  std::string datapath_type;
  std::string fail_mode;
  std::vector<std::string> ports;        // UUIDs
  std::vector<std::string> controllers;  // UUIDs
  std::vector<std::string> protocols;    // "OpenFlow13"...
  StringMap other_config;
  std::optional<std::string> datapath_id;  // written by the switch
};

struct DatapathRow {
  std::string uuid;
  StringMap capabilities;  // written by the switch
};

struct OpenVswitchRow {
  std::string uuid;
  std::vector<std::string> bridges;  // UUIDs
  int64_t next_cfg = 0;
  int64_t cur_cfg = 0;
  StringMap other_config;
  std::map<std::string, std::string> datapaths;  // datapath type -> Datapath UUID
  std::vector<std::string> iface_types;          // written by the switch
  std::vector<std::string> datapath_types;       // written by the switch
};

struct VswitchDb {
  std::optional<OpenVswitchRow> root;        // the one Open_vSwitch row, if any
  std::map<std::string, BridgeRow> bridges;  // by UUID
  std::map<std::string, PortRow> ports;
  std::map<std::string, InterfaceRow> interfaces;
  std::map<std::string, ControllerRow> controllers;
  std::map<std::string, DatapathRow> datapaths;
  // Values of the wrong shape, "Table:column of row <uuid>: why", each
  // treated as unset.  More than one Open_vSwitch row is one too.
  std::vector<std::string> problems;

  const InterfaceRow* FindInterface(const std::string& name) const;
};

// table -> columns, for ClientOptions::monitored.
const std::map<std::string, std::vector<std::string>>& MonitoredColumns();

// A consistent snapshot of the replica, typed.
VswitchDb ReadVswitchDb(const Replica& replica);

}  // namespace hsw::ovsdb
