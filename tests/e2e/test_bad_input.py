#!/usr/bin/python3
"""Bad input gets a clear error naming what is wrong, changes nothing, and
leaves the daemons up: malformed flows, unknown ports and bridges, garbage on
the OpenFlow socket, a corrupt config file, bad hsw-ctl usage."""

import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hswtest  # noqa: E402

OFP13 = 4
OFPT_HELLO, OFPT_ERROR, OFPT_ECHO_REQUEST, OFPT_ECHO_REPLY = 0, 1, 2, 3
OFPT_FLOW_MOD = 14


def ofp_header(version, msg_type, length, xid=1):
    return struct.pack("!BBHI", version, msg_type, length, xid)


class BadInputTest(hswtest.HswTestCase):

    def setUp(self):
        super().setUp()
        self.add_flow("in_port=1,actions=output:2")
        self.baseline = self.table()

    def table(self):
        """br0's rules without their counters and ages."""
        return sorted(hswtest.normalize_flow_line(l) for l in self.w.dump_flows())

    def assert_daemons_up(self):
        for d in self.w.DAEMONS:
            pid = self.w.daemon_pid(d)
            self.assertTrue(pid and hswtest.process_alive(pid), "%s is not running" % d)
        # Still serving both its clients.
        self.assertEqual(self.table(), self.baseline, "the table changed")
        out = self.w.ofctl("dump-flows", "--no-names").stdout
        self.assertIn("in_port=1", out)

    def assert_fails(self, args, code, *names):
        p = self.w.ctl(*args, check=False)
        text = p.stdout + p.stderr
        self.assertEqual(p.returncode, code, "hsw-ctl %s: exit %d, expected %d: %s" %
                         (" ".join(args), p.returncode, code, text))
        for n in names:
            self.assertIn(n, text, "hsw-ctl %s: error does not name %r: %s" %
                          (" ".join(args), n, text))
        self.assertTrue(p.stderr.strip(), "error message should go to stderr")
        return text

    # -- hsw-ctl -----------------------------------------------------------
    def test_malformed_flow_names_the_bad_action(self):
        self.assert_fails(["add-flow", "br0", "in_port=1,actions=oops"], 1, "oops")
        self.assert_fails(["add-flow", "br0", "in_prot=1,actions=output:2"], 1, "in_prot")
        self.assert_fails(["add-flow", "br0", "in_port=1,nw_dst=10.0.0.300,actions=drop"], 1,
                          "10.0.0.300")
        self.assert_daemons_up()

    def test_add_flows_file_is_all_or_nothing(self):
        path = os.path.join(self.w.tmp, "bad-flows.txt")
        with open(path, "w") as f:
            f.write("in_port=2,actions=output:1\nin_port=3,actions=bogus_action\n")
        self.assert_fails(["add-flows", "br0", path], 1, "bogus_action")
        self.assert_daemons_up()

    def test_unknown_port(self):
        self.assert_fails(["add-port", "br0", "nosuchif0"], 1, "nosuchif0")
        self.assert_fails(["del-port", "br0", "nosuchif0"], 1, "nosuchif0")
        ports = self.w.ctl("list-ports", "br0").stdout.split()
        self.assertEqual(sorted(ports), ["p1", "p2", "p3"])
        self.assert_daemons_up()

    def test_port_already_on_bridge_is_refused(self):
        self.assert_fails(["add-port", "br0", "p1"], 1, "p1")
        self.assert_daemons_up()

    def test_unknown_bridge(self):
        self.assert_fails(["add-flow", "nosuchbr", "in_port=1,actions=drop"], 1, "nosuchbr")
        self.assert_fails(["dump-flows", "nosuchbr"], 1, "nosuchbr")
        self.assert_fails(["add-port", "nosuchbr", "p1"], 1, "nosuchbr")
        self.assert_fails(["del-br", "nosuchbr"], 1, "nosuchbr")
        self.assertEqual(self.w.ctl("list-br").stdout.split(), ["br0"])
        self.assert_daemons_up()

    def test_bad_usage_exits_2(self):
        self.assert_fails(["frobnicate"], 2)
        self.assert_fails(["add-flow", "br0"], 2)  # missing FLOW
        self.assert_fails(["add-br"], 2)
        p = self.w.ctl("--help", check=False)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("add-flow", p.stdout)
        p = self.w.ctl("add-flow", "--help", check=False)
        self.assertEqual(p.returncode, 0, p.stderr)

    # -- raw OpenFlow ------------------------------------------------------
    def _connect(self, hello=True):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.w.mgmt())
        if hello:
            s.sendall(ofp_header(OFP13, OFPT_HELLO, 8))
        return s

    def _read_reply_or_close(self, s, timeout=5):
        """Reads messages until an OFPT_ERROR arrives (returns it) or the
        switch closes the connection (returns None).  A timeout is a failure:
        bad input must not leave a connection hanging silently."""
        s.settimeout(timeout)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while len(buf) >= 8:
                version, msg_type, length, xid = struct.unpack("!BBHI", buf[:8])
                if length < 8 or len(buf) < length:
                    break
                msg, buf = buf[:length], buf[length:]
                if msg_type == OFPT_ERROR:
                    return msg
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return None
            except socket.timeout:
                break
            if not chunk:
                return None
            buf += chunk
        self.fail("no error reply and no close within %ss" % timeout)

    def test_truncated_flow_mod_gets_bad_len_error(self):
        s = self._connect()
        # A FLOW_MOD needs 56 bytes before its match; this one has 16.
        s.sendall(ofp_header(OFP13, OFPT_FLOW_MOD, 16, xid=77) + b"\0" * 8)
        err = self._read_reply_or_close(s)
        if err is not None:
            _, _, _, xid, etype, code = struct.unpack("!BBHIHH", err[:12])
            self.assertEqual(xid, 77, "error reply must carry the request's xid")
            self.assertEqual(etype, 1, "expected OFPET_BAD_REQUEST, got type %d" % etype)
            self.assertEqual(code, 6, "expected OFPBRC_BAD_LEN, got code %d" % code)
        s.close()
        self.assert_daemons_up()

    def test_garbage_and_bad_framing(self):
        cases = {
            # header says 4 bytes: shorter than a header, framing is lost
            "short length": ofp_header(OFP13, OFPT_ECHO_REQUEST, 4),
            "unknown type": ofp_header(OFP13, 200, 8),
            "random bytes": bytes(range(256)) * 4,
            "bad version": ofp_header(0x7f, OFPT_ECHO_REQUEST, 8),
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                s = self._connect()
                s.sendall(data)
                self._read_reply_or_close(s)
                s.close()
                self.assert_daemons_up()

    def test_message_cut_off_by_close(self):
        s = self._connect()
        s.sendall(ofp_header(OFP13, OFPT_FLOW_MOD, 200)[:6])
        s.close()
        s = self._connect(hello=False)
        s.sendall(ofp_header(OFP13, OFPT_FLOW_MOD, 200) + b"\1" * 40)
        s.shutdown(socket.SHUT_WR)
        s.close()
        self.assert_daemons_up()

    def test_connection_survives_an_error(self):
        # An error reply is per message: the same connection keeps working.
        s = self._connect()
        s.sendall(ofp_header(OFP13, 200, 8, xid=5))
        err = self._read_reply_or_close(s)
        if err is None:
            return  # closing is allowed; nothing more to check on this one
        s.sendall(ofp_header(OFP13, OFPT_ECHO_REQUEST, 8, xid=6))
        buf = b""
        while True:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "connection closed after an error reply")
            buf += chunk
            found = False
            while len(buf) >= 8:
                _, t, length, xid = struct.unpack("!BBHI", buf[:8])
                if len(buf) < length:
                    break
                if t == OFPT_ECHO_REPLY and xid == 6:
                    found = True
                buf = buf[length:]
            if found:
                break
        s.close()

    # -- config file -------------------------------------------------------
    def _check_refuses(self, content):
        conf = os.path.join(self.w.statedir, "conf.json")
        self.assertTrue(os.path.exists(conf), "hsw-vswitchd keeps no %s" % conf)
        self.w.stop_daemon("hsw-vswitchd")
        with open(conf, "wb") as f:
            f.write(content)
        p = self.w.start_daemon("hsw-vswitchd", check=False)
        self.assertNotEqual(p.returncode, 0, "hsw-vswitchd started with a corrupt config")
        self.assertIn("conf.json", p.stderr, "error does not name the file: " + p.stderr)
        with open(conf, "rb") as f:
            self.assertEqual(f.read(), content, "the corrupt file was changed")
        # The datapath is unaffected and still answers.
        dp = self.w.daemon_pid("hsw-datapath")
        self.assertTrue(dp and hswtest.process_alive(dp))
        self.w.ctl("dp-show")
        return p.stderr

    def test_corrupt_config_is_refused_and_left_alone(self):
        self._check_refuses(b'{"bridges": {"br0": {"ports": [ \n')

    def test_config_of_wrong_shape_is_refused(self):
        self._check_refuses(b'{"bridges": 42}\n')

    def test_empty_config_is_refused(self):
        self._check_refuses(b"")


if __name__ == "__main__":
    hswtest.main()
