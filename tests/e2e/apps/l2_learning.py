"""A small os-ken application: an OpenFlow 1.3 L2-learning switch.

Used by tests/e2e/test_os_ken.py to show that an unmodified controller app
on Debian's os-ken drives hsw.  Behaviour:

  * when a switch connects (features reply): one table-miss rule,
    priority 0, no match, actions=output:CONTROLLER (max_len NO_BUFFER), so
    every unknown packet comes up whole;
  * on each packet-in: remember eth_src -> in_port for that datapath; if
    eth_dst has been learned, install `priority=1,in_port,eth_dst ->
    output:port` and send the packet out that port, else flood it with a
    packet-out (OFPP_FLOOD).

Every packet-in is logged on one line "l2_learning: packet-in ...", so the
test can count them and a failing test can show what the controller saw.
"""

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER,
                                       set_ev_cls)
from os_ken.lib.packet import ethernet, packet
from os_ken.ofproto import ofproto_v1_3

LEARNED_PRIORITY = 1
MISS_PRIORITY = 0


class L2Learning(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # datapath id -> {mac: port}
        self.tables = {}

    @staticmethod
    def _flow_mod(dp, priority, match, actions):
        ofp, parser = dp.ofproto, dp.ofproto_parser
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        dp.send_msg(parser.OFPFlowMod(datapath=dp, table_id=0, command=ofp.OFPFC_ADD,
                                      priority=priority, match=match, instructions=inst,
                                      buffer_id=ofp.OFP_NO_BUFFER))

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def on_features(self, ev):
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        self.tables.setdefault(dp.id, {})
        to_controller = [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        self._flow_mod(dp, MISS_PRIORITY, parser.OFPMatch(), to_controller)
        # A barrier so that the miss rule is in place before we say so.
        dp.send_msg(parser.OFPBarrierRequest(dp))
        self.logger.info("l2_learning: switch %016x connected, table-miss rule sent", dp.id)

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def on_state_change(self, ev):
        # os-ken hands packet-ins to apps only from MAIN_DISPATCHER on (after
        # the port description reply): say when that point is reached.
        dp = ev.datapath
        if ev.state == MAIN_DISPATCHER:
            self.logger.info("l2_learning: switch %016x ready", dp.id)
        elif dp.id is not None:
            self.logger.info("l2_learning: switch %016x gone", dp.id)
            self.tables.pop(dp.id, None)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def on_packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        in_port = msg.match["in_port"]
        eth = packet.Packet(msg.data).get_protocol(ethernet.ethernet)
        if eth is None:
            self.logger.info("l2_learning: packet-in port %s: not Ethernet, ignored", in_port)
            return

        macs = self.tables.setdefault(dp.id, {})
        if macs.get(eth.src) != in_port:
            self.logger.info("l2_learning: dpid %016x learned %s on port %s",
                             dp.id, eth.src, in_port)
        macs[eth.src] = in_port

        out_port = macs.get(eth.dst)
        if out_port is None:
            out_port = ofp.OFPP_FLOOD
            decision = "unknown destination, flooding"
        elif out_port == in_port:
            decision = "destination on the ingress port, dropped"
        else:
            match = parser.OFPMatch(in_port=in_port, eth_dst=eth.dst)
            self._flow_mod(dp, LEARNED_PRIORITY, match, [parser.OFPActionOutput(out_port)])
            decision = "flow in_port=%s,eth_dst=%s -> output:%s installed" % (
                in_port, eth.dst, out_port)
        # Exactly one "packet-in" line per packet-in: the test counts them.
        self.logger.info("l2_learning: packet-in port %s %s -> %s type 0x%04x: %s",
                         in_port, eth.src, eth.dst, eth.ethertype, decision)
        if out_port == in_port:
            return

        actions = [parser.OFPActionOutput(out_port)]
        data = msg.data if msg.buffer_id == ofp.OFP_NO_BUFFER else None
        dp.send_msg(parser.OFPPacketOut(datapath=dp, buffer_id=msg.buffer_id, in_port=in_port,
                                        actions=actions, data=data))
