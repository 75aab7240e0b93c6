#!/bin/sh
# The restart steps of an Open vSwitch node in a Kubernetes pod, written for
# Open vSwitch and run unchanged against hsw.  They follow what the
# ovn-operator's ovn-controller-ovs pod does (its stop-vswitchd.sh preStop
# hook, its ovsdb-server container, its start-vswitchd.sh): the same
# commands on the same hard-coded system paths, so that the test proves what
# an operator's own scripts would see.  Run inside the test's private mount
# namespace (tests/e2e/ovsdbtest.py, SystemRoot), never on a real node.
#
#   ovs-node.sh stop-vswitchd    save the flows with ovs-save, stop with ovs-ctl
#   ovs-node.sh stop-ovsdb       stop ovsdb-server with ovs-ctl
#   ovs-node.sh init-ovsdb       create the node's database if it has none
#   ovs-node.sh start-ovsdb      start ovsdb-server on the node's database
#   ovs-node.sh start-vswitchd   flow-restore-wait, start, restore, clear
set -e

RESTORE_DIR=/var/lib/openvswitch/saved-flows
RESTORE_SCRIPT=/var/lib/openvswitch/flows-script
SCRIPTS=/usr/share/openvswitch/scripts

drop_saved_flows() {
    rm -rf "$RESTORE_DIR" "$RESTORE_SCRIPT"
}

case "$1" in
stop-vswitchd)
    drop_saved_flows
    bridges=$(ovs-vsctl -- --real list-br)
    mkdir "$RESTORE_DIR"
    TMPDIR=$RESTORE_DIR $SCRIPTS/ovs-save save-flows $bridges > "$RESTORE_SCRIPT"
    $SCRIPTS/ovs-ctl stop --no-ovsdb-server
    ;;
stop-ovsdb)
    $SCRIPTS/ovs-ctl stop --no-ovs-vswitchd
    ;;
init-ovsdb)
    [ -f /etc/openvswitch/conf.db ] ||
        ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
    ;;
start-ovsdb)
    # A pod's container runs it in the foreground; here the test is the
    # container runtime, so it detaches.
    ovsdb-server /etc/openvswitch/conf.db --pidfile --overwrite-pidfile \
        --remote=punix:/var/run/openvswitch/db.sock --detach --log-file
    ;;
start-vswitchd)
    until ovs-vsctl show > /dev/null 2>&1; do sleep 0.1; done
    # Keep the new ovs-vswitchd from flushing the datapath until restored.
    ovs-vsctl --no-wait set open_vswitch . other_config:flow-restore-wait=true
    /usr/sbin/ovs-vswitchd --pidfile --mlockall --detach --log-file
    if [ -f "$RESTORE_SCRIPT" ]; then
        trap drop_saved_flows EXIT
        eval "$(cat "$RESTORE_SCRIPT")"
        trap - EXIT
    fi
    drop_saved_flows
    ovs-vsctl remove open_vswitch . other_config flow-restore-wait
    ;;
*)
    echo "usage: $0 init-ovsdb|stop-vswitchd|stop-ovsdb|start-ovsdb|start-vswitchd" >&2
    exit 2
    ;;
esac
