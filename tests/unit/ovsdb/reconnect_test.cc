// The reconnect FSM driven by scripts of timed events; each script's
// transcript (state, action, backoff, timeout after every event) is compared
// with the expected one, as OVS's tests/reconnect.at does.
#include "ovsdb/reconnect.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace hsw::ovsdb {
namespace {

// Script lines: "<ms> <event> [text]" with events enable, connecting,
// connected, connect-failed, disconnected, activity, run.  Each line gives
// one transcript line: "<ms> <event>[ -> <action>]: <STATE> backoff=<b>
// timeout=<t>".
std::string RunScript(Reconnect& fsm, const std::string& script) {
  std::istringstream in(script);
  std::ostringstream out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    int64_t now;
    std::string event, text;
    if (!(words >> now >> event)) continue;
    std::getline(words, text);
    out << now << " " << event;
    if (event == "enable") {
      fsm.Enable(now);
    } else if (event == "connecting") {
      fsm.Connecting(now);
    } else if (event == "connected") {
      fsm.Connected(now);
    } else if (event == "connect-failed") {
      fsm.ConnectFailed(now, text);
    } else if (event == "disconnected") {
      fsm.Disconnected(now, text);
    } else if (event == "activity") {
      fsm.Activity(now);
    } else if (event == "run") {
      out << " -> " << Reconnect::ActionName(fsm.Run(now));
    } else {
      ADD_FAILURE() << "unknown event in script: " << line;
    }
    out << ": " << Reconnect::StateName(fsm.state()) << " backoff=" << fsm.backoff_ms()
        << " timeout=" << fsm.Timeout(now) << "\n";
  }
  return out.str();
}

TEST(Reconnect, FirstAttemptAtOnceThenBackoffDoublesToTheMax) {
  Reconnect fsm;
  EXPECT_EQ(RunScript(fsm, R"(
0 run
0 enable
0 run
0 connecting
0 connect-failed refused
500 run
1000 run
1000 connecting
1000 connect-failed refused
3000 run
3000 connecting
3000 connect-failed refused
7000 run
7000 connecting
7000 connect-failed refused
15000 run
15000 connecting
15000 connect-failed refused
)"),
            "0 run -> none: VOID backoff=0 timeout=-1\n"
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 run -> connect: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "0 connect-failed: BACKOFF backoff=1000 timeout=1000\n"
            "500 run -> none: BACKOFF backoff=1000 timeout=500\n"
            "1000 run -> connect: BACKOFF backoff=1000 timeout=0\n"
            "1000 connecting: CONNECTING backoff=1000 timeout=1000\n"
            "1000 connect-failed: BACKOFF backoff=2000 timeout=2000\n"
            "3000 run -> connect: BACKOFF backoff=2000 timeout=0\n"
            "3000 connecting: CONNECTING backoff=2000 timeout=2000\n"
            "3000 connect-failed: BACKOFF backoff=4000 timeout=4000\n"
            "7000 run -> connect: BACKOFF backoff=4000 timeout=0\n"
            "7000 connecting: CONNECTING backoff=4000 timeout=4000\n"
            "7000 connect-failed: BACKOFF backoff=8000 timeout=8000\n"
            "15000 run -> connect: BACKOFF backoff=8000 timeout=0\n"
            "15000 connecting: CONNECTING backoff=8000 timeout=8000\n"
            "15000 connect-failed: BACKOFF backoff=8000 timeout=8000\n");
  EXPECT_EQ(fsm.n_attempts(), 5u);
  EXPECT_EQ(fsm.last_error(), " refused");
}

TEST(Reconnect, ProbeAfterIdleThenDisconnectAfterSilence) {
  Reconnect fsm;
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
0 connected
3000 activity
5000 run
8000 run
8000 activity
8000 run
13000 run
17000 run
18000 run
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "0 connected: ACTIVE backoff=0 timeout=5000\n"
            "3000 activity: ACTIVE backoff=0 timeout=5000\n"
            "5000 run -> none: ACTIVE backoff=0 timeout=3000\n"
            "8000 run -> probe: IDLE backoff=0 timeout=5000\n"
            // Any byte answers the probe.
            "8000 activity: ACTIVE backoff=0 timeout=5000\n"
            "8000 run -> none: ACTIVE backoff=0 timeout=5000\n"
            "13000 run -> probe: IDLE backoff=0 timeout=5000\n"
            "17000 run -> none: IDLE backoff=0 timeout=1000\n"
            "18000 run -> disconnect: IDLE backoff=0 timeout=0\n");
  EXPECT_NE(fsm.disconnect_reason().find("inactivity probe after 5000 ms"), std::string::npos);
}

TEST(Reconnect, LossOfAStableConnectionRetriesAtOnceThenBacksOff) {
  Reconnect fsm;
  // Up for 60 s, then the server restarts: the first retry is immediate,
  // the ones after it back off as usual.
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
0 connected
60000 activity
60000 disconnected server restarted
60000 run
60000 connecting
60000 connect-failed refused
61000 run
61000 connecting
61000 connected
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "0 connected: ACTIVE backoff=0 timeout=5000\n"
            "60000 activity: ACTIVE backoff=0 timeout=5000\n"
            "60000 disconnected: BACKOFF backoff=0 timeout=0\n"
            "60000 run -> connect: BACKOFF backoff=0 timeout=0\n"
            "60000 connecting: CONNECTING backoff=0 timeout=1000\n"
            "60000 connect-failed: BACKOFF backoff=1000 timeout=1000\n"
            "61000 run -> connect: BACKOFF backoff=1000 timeout=0\n"
            "61000 connecting: CONNECTING backoff=1000 timeout=1000\n"
            "61000 connected: ACTIVE backoff=1000 timeout=5000\n");
}

TEST(Reconnect, ConnectionsThatDropAtOnceBackOffInsteadOfSpinning) {
  Reconnect fsm;
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
0 connected
10 disconnected reset
10 run
1010 run
1010 connecting
1010 connected
1020 disconnected reset
3020 run
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "0 connected: ACTIVE backoff=0 timeout=5000\n"
            "10 disconnected: BACKOFF backoff=1000 timeout=1000\n"
            "10 run -> none: BACKOFF backoff=1000 timeout=1000\n"
            "1010 run -> connect: BACKOFF backoff=1000 timeout=0\n"
            "1010 connecting: CONNECTING backoff=1000 timeout=1000\n"
            "1010 connected: ACTIVE backoff=1000 timeout=5000\n"
            "1020 disconnected: BACKOFF backoff=2000 timeout=2000\n"
            "3020 run -> connect: BACKOFF backoff=2000 timeout=0\n");
}

TEST(Reconnect, ALongConnectionThePeerNeverSpokeOnBacksOff) {
  Reconnect fsm;
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
0 connected
60000 disconnected reset
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "0 connected: ACTIVE backoff=0 timeout=5000\n"
            "60000 disconnected: BACKOFF backoff=1000 timeout=1000\n");
}

TEST(Reconnect, QuietButHeardConnectionRetriesAtOnce) {
  Reconnect fsm(ReconnectOptions{.probe_interval_ms = 0});
  // Heard at 100 ms, silent for a minute (no probes), then lost.
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
0 connected
100 activity
60000 disconnected reset
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "0 connected: ACTIVE backoff=0 timeout=-1\n"
            "100 activity: ACTIVE backoff=0 timeout=-1\n"
            "60000 disconnected: BACKOFF backoff=0 timeout=0\n");
}

TEST(Reconnect, HungConnectTimesOut) {
  Reconnect fsm;
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
999 run
1000 run
1000 connect-failed timed out
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=1000\n"
            "999 run -> none: CONNECTING backoff=0 timeout=1\n"
            "1000 run -> disconnect: CONNECTING backoff=0 timeout=0\n"
            "1000 connect-failed: BACKOFF backoff=1000 timeout=1000\n");
  EXPECT_NE(fsm.disconnect_reason().find("timed out"), std::string::npos);
}

TEST(Reconnect, OptionsOverrideAndProbesOff) {
  Reconnect fsm(
      ReconnectOptions{.min_backoff_ms = 50, .max_backoff_ms = 120, .probe_interval_ms = 0});
  EXPECT_EQ(RunScript(fsm, R"(
0 enable
0 connecting
0 connect-failed x
50 connecting
50 connect-failed x
150 connecting
150 connect-failed x
270 connecting
270 connected
100000 run
)"),
            "0 enable: BACKOFF backoff=0 timeout=0\n"
            "0 connecting: CONNECTING backoff=0 timeout=50\n"
            "0 connect-failed: BACKOFF backoff=50 timeout=50\n"
            "50 connecting: CONNECTING backoff=50 timeout=50\n"
            "50 connect-failed: BACKOFF backoff=100 timeout=100\n"
            "150 connecting: CONNECTING backoff=100 timeout=100\n"
            "150 connect-failed: BACKOFF backoff=120 timeout=120\n"
            "270 connecting: CONNECTING backoff=120 timeout=120\n"
            "270 connected: ACTIVE backoff=120 timeout=-1\n"
            "100000 run -> none: ACTIVE backoff=120 timeout=-1\n");
  EXPECT_EQ(fsm.n_connections(), 1u);
}

}  // namespace
}  // namespace hsw::ovsdb
