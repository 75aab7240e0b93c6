#include "vswitchd/flow_journal.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <xxhash.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/fd.h"
#include "openflow/flow_text.h"
#include "testlib/temp_dir.h"

namespace hsw::vswitchd {
namespace {

namespace fs = std::filesystem;
using ofp::FlowMod;
using ofp::FlowModCommand;

constexpr size_t kHeader = 40;  // the file header's size, per flow_journal.h

FlowMod Add(const std::string& text) {
  auto fm = ofp::ParseFlowMod(text);
  EXPECT_TRUE(fm) << text << ": " << fm.error().ToString();
  return fm ? *fm : FlowMod{};
}
FlowMod Modify(const std::string& text, bool strict = false) {
  auto fm =
      ofp::ParseFlowMod(text, strict ? FlowModCommand::kModifyStrict : FlowModCommand::kModify);
  EXPECT_TRUE(fm) << text << ": " << fm.error().ToString();
  return fm ? *fm : FlowMod{};
}
FlowMod Delete(const std::string& text, bool strict = false) {
  auto fm = ofp::ParseFlowDelete(text, strict);
  EXPECT_TRUE(fm) << text << ": " << fm.error().ToString();
  return fm ? *fm : FlowMod{};
}

std::string Describe(const FlowMod& fm) {
  return fmt::format("cmd={} buffer={:x} {}", static_cast<int>(fm.command), fm.buffer_id,
                     ofp::FormatFlowMod(fm));
}

// A record as one comparable line per flow-mod.
std::vector<std::string> Describe(const JournalRecord& r) {
  std::vector<std::string> out{fmt::format("kind={} seq={} bridge={} n={}",
                                           static_cast<int>(r.kind), r.seq, r.bridge,
                                           r.flow_mods.size())};
  for (const auto& fm : r.flow_mods) out.push_back(Describe(fm));
  return out;
}
std::vector<std::string> Describe(const std::vector<JournalRecord>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    auto lines = Describe(r);
    out.insert(out.end(), lines.begin(), lines.end());
  }
  return out;
}

JournalRecord FlowModsRecord(uint64_t seq, std::string bridge, std::vector<FlowMod> fms) {
  return JournalRecord{JournalRecord::Kind::kFlowMods, seq, std::move(bridge), std::move(fms)};
}
JournalRecord ClearRecord(uint64_t seq, std::string bridge) {
  return JournalRecord{JournalRecord::Kind::kClearBridge, seq, std::move(bridge), {}};
}

// Where each record starts, from the framing alone.
std::vector<size_t> RecordOffsets(const std::string& bytes) {
  std::vector<size_t> offsets;
  for (size_t at = kHeader; at + 8 <= bytes.size();) {
    offsets.push_back(at);
    uint32_t length = 0;
    for (int i = 3; i >= 0; --i) length = (length << 8) | static_cast<uint8_t>(bytes[at + i]);
    at += 8 + length;
  }
  return offsets;
}

bool IsHex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

class FlowJournalTest : public ::testing::Test {
 protected:
  JournalOpenResult MustOpen() {
    auto opened = FlowJournal::Open(path_);
    EXPECT_TRUE(opened) << opened.error().ToString();
    return opened ? std::move(*opened) : JournalOpenResult{};
  }
  std::string Bytes() {
    auto content = ReadFile(path_);
    EXPECT_TRUE(content) << content.error().ToString();
    return content.value_or("");
  }
  // No fsync: the tests rewrite the file hundreds of times on a shared machine.
  void SetBytes(const std::string& bytes) {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.close();
    ASSERT_TRUE(out.good()) << path_;
  }

  // Writes a journal of several records and returns what they should read back as.
  std::vector<JournalRecord> WriteSample() {
    std::vector<JournalRecord> expected;
    auto opened = MustOpen();
    FlowJournal& j = *opened.journal;
    std::vector<FlowMod> batch1 = {
        Add("table=1,priority=100,ip,nw_dst=10.0.0.0/24,actions=set_field:10.0.0.1->ip_src,"
            "output:2"),
        Add("priority=200,in_port=1,dl_src=00:11:22:33:44:55,dl_vlan=10,actions=pop_vlan,"
            "output:3"),
        Add("cookie=0x5,idle_timeout=30,hard_timeout=60,send_flow_rem,tcp,nw_src=192.168.1.1,"
            "tp_dst=80,actions=mod_tp_dst:8080,NORMAL"),
        Add("arp,arp_tpa=10.0.0.1,arp_op=1,actions=FLOOD,CONTROLLER:128"),
        Add("table=0,priority=10,actions=write_metadata:0x1/0xff,goto_table:5"),
        Add("table=5,udp,tp_src=53,actions=clear_actions,write_actions(output:4)"),
        Add("ip,nw_tos=16,nw_ttl=4,actions=push_vlan:0x8100,set_field:4097->vlan_vid,dec_ttl,"
            "output:IN_PORT"),
        Add("tcp,tcp_flags=0x12/0xff,actions=drop"),
    };
    EXPECT_TRUE(j.AppendFlowMods("br0", batch1));
    expected.push_back(FlowModsRecord(1, "br0", batch1));

    std::vector<FlowMod> batch2 = {Add("priority=5,actions=LOCAL")};
    EXPECT_TRUE(j.AppendFlowMods("br-int", batch2));
    expected.push_back(FlowModsRecord(2, "br-int", batch2));

    std::vector<FlowMod> batch3 = {
        Modify("table=1,ip,nw_dst=10.0.0.0/24,actions=drop"),
        Modify("priority=200,in_port=1,dl_src=00:11:22:33:44:55,dl_vlan=10,actions=output:9", true),
        Delete("tcp,nw_src=192.168.1.1"),
        Delete("table=5,priority=32768,udp,tp_src=53", true),
        Delete("cookie=0x5/0xff,out_port=2"),
    };
    EXPECT_TRUE(j.AppendFlowMods("br0", batch3));
    expected.push_back(FlowModsRecord(3, "br0", batch3));

    EXPECT_TRUE(j.AppendClearBridge("br-int"));
    expected.push_back(ClearRecord(4, "br-int"));

    std::vector<FlowMod> batch5 = {Delete(""), Add("in_port=2,actions=output:1")};
    EXPECT_TRUE(j.AppendFlowMods("br0", batch5));
    expected.push_back(FlowModsRecord(5, "br0", batch5));
    EXPECT_EQ(j.position().seq, 5u);
    EXPECT_EQ(j.size_bytes(), fs::file_size(path_));
    return expected;
  }

  testing::TempDir tmp_{"hsw-journal-test"};
  const std::string dir_ = tmp_.path();
  std::string path_ = dir_ + "/flows.journal";
};

TEST_F(FlowJournalTest, NewFileIsCreatedEmptyWithARandomId) {
  auto opened = MustOpen();
  ASSERT_TRUE(opened.journal);
  EXPECT_TRUE(opened.created);
  EXPECT_TRUE(opened.records.empty());
  EXPECT_EQ(opened.note, "");
  JournalPosition pos = opened.journal->position();
  EXPECT_EQ(pos.seq, 0u);
  EXPECT_TRUE(IsHex32(pos.id)) << pos.id;
  EXPECT_EQ(opened.journal->path(), path_);
  EXPECT_EQ(opened.journal->size_bytes(), kHeader);
  EXPECT_EQ(fs::file_size(path_), kHeader);
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));

  auto again = MustOpen();
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.journal->position(), pos);

  auto other = FlowJournal::Open(dir_ + "/other.journal");
  ASSERT_TRUE(other) << other.error().ToString();
  EXPECT_TRUE(IsHex32(other->journal->position().id));
  EXPECT_NE(other->journal->position().id, pos.id);
}

TEST_F(FlowJournalTest, RoundTrip) {
  std::vector<JournalRecord> expected = WriteSample();
  std::string id;
  {
    auto opened = MustOpen();
    id = opened.journal->position().id;
  }
  auto opened = MustOpen();
  EXPECT_FALSE(opened.created);
  EXPECT_EQ(opened.note, "");
  EXPECT_EQ(Describe(opened.records), Describe(expected));
  EXPECT_EQ(opened.journal->position().id, id);
  EXPECT_EQ(opened.journal->position().seq, 5u);
  EXPECT_EQ(opened.journal->size_bytes(), fs::file_size(path_));

  // Appending after a reopen continues the sequence.
  ASSERT_TRUE(opened.journal->AppendClearBridge("br0"));
  EXPECT_EQ(opened.journal->position().seq, 6u);
  opened = MustOpen();
  expected.push_back(ClearRecord(6, "br0"));
  EXPECT_EQ(Describe(opened.records), Describe(expected));
}

TEST_F(FlowJournalTest, BufferIdIsNotStored) {
  FlowMod fm = Add("in_port=1,actions=output:2");
  fm.buffer_id = 7;
  {
    auto opened = MustOpen();
    ASSERT_TRUE(opened.journal->AppendFlowMods("br0", {fm}));
  }
  auto opened = MustOpen();
  ASSERT_EQ(opened.records.size(), 1u);
  ASSERT_EQ(opened.records[0].flow_mods.size(), 1u);
  EXPECT_EQ(opened.records[0].flow_mods[0].buffer_id, ofp::kNoBuffer);
}

TEST_F(FlowJournalTest, RefusesWhatItCouldNotReadBack) {
  auto opened = MustOpen();
  FlowJournal& j = *opened.journal;
  ASSERT_TRUE(j.AppendFlowMods("br0", {Add("actions=drop")}));
  std::string before = Bytes();

  // Too many actions for one 64 kB OpenFlow message.
  FlowMod huge = Add("actions=output:1");
  huge.instructions.apply.assign(10000, ofp::ActOutput{1});
  auto r = j.AppendFlowMods("br0", {Add("actions=drop"), huge});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("flow-mod 1"), std::string::npos) << r.error().message;

  EXPECT_FALSE(j.AppendClearBridge(""));
  EXPECT_FALSE(j.AppendClearBridge(std::string(256, 'b')));
  EXPECT_TRUE(j.AppendClearBridge(std::string(255, 'b')));
  EXPECT_EQ(j.position().seq, 2u);

  auto reopened = MustOpen();
  EXPECT_EQ(reopened.records.size(), 2u);
  EXPECT_EQ(Bytes().substr(0, before.size()), before);
}

TEST_F(FlowJournalTest, TornTailAtEveryOffsetIsDroppedAndTruncated) {
  std::vector<JournalRecord> expected = WriteSample();
  std::string full = Bytes();
  std::string four = full.substr(0, RecordOffsets(full).back());
  std::vector<JournalRecord> first_four(expected.begin(), expected.end() - 1);
  ASSERT_LT(four.size(), full.size());

  for (size_t cut = four.size() + 1; cut < full.size(); ++cut) {
    SCOPED_TRACE(fmt::format("cut at {} (last record {}..{})", cut, four.size(), full.size()));
    SetBytes(full.substr(0, cut));
    auto opened = MustOpen();
    ASSERT_TRUE(opened.journal);
    EXPECT_EQ(Describe(opened.records), Describe(first_four));
    EXPECT_NE(opened.note, "");
    EXPECT_NE(opened.note.find(fmt::format("offset {}", four.size())), std::string::npos)
        << opened.note;
    EXPECT_EQ(opened.journal->position().seq, 4u);
    EXPECT_EQ(opened.journal->size_bytes(), four.size());
    EXPECT_EQ(Bytes(), four);
    // The seq of the dropped record is given again.
    ASSERT_TRUE(opened.journal->AppendFlowMods("br0", expected.back().flow_mods));
    auto reopened = MustOpen();
    EXPECT_EQ(reopened.note, "");
    EXPECT_EQ(Describe(reopened.records), Describe(expected));
    EXPECT_EQ(Bytes(), full);
  }
}

TEST_F(FlowJournalTest, BadChecksumOnTheLastRecordIsATornTail) {
  std::vector<JournalRecord> expected = WriteSample();
  std::string full = Bytes();
  std::string damaged = full;
  damaged[damaged.size() - 3] ^= 0x40;
  SetBytes(damaged);
  auto opened = MustOpen();
  EXPECT_NE(opened.note.find("checksum"), std::string::npos) << opened.note;
  expected.pop_back();
  EXPECT_EQ(Describe(opened.records), Describe(expected));
  EXPECT_EQ(opened.journal->size_bytes(), fs::file_size(path_));
  EXPECT_LT(fs::file_size(path_), full.size());
}

TEST_F(FlowJournalTest, ZeroFilledTailIsDropped) {
  std::vector<JournalRecord> expected = WriteSample();
  std::string full = Bytes();
  SetBytes(full + std::string(4096, '\0'));
  auto opened = MustOpen();
  EXPECT_NE(opened.note.find("zero bytes"), std::string::npos) << opened.note;
  EXPECT_EQ(Describe(opened.records), Describe(expected));
  EXPECT_EQ(Bytes(), full);
}

TEST_F(FlowJournalTest, CorruptionInTheMiddleIsAnErrorAndChangesNothing) {
  {
    auto opened = MustOpen();
    ASSERT_TRUE(opened.journal->AppendFlowMods(
        "br0", {Add("table=1,priority=100,ip,nw_dst=10.0.0.0/24,actions=output:2")}));
    ASSERT_TRUE(opened.journal->AppendFlowMods("br0", {Add("actions=drop")}));
  }
  std::string good = Bytes();
  // Every byte of the first record's body, in turn.
  uint32_t first_length =
      static_cast<uint8_t>(good[kHeader]) | static_cast<uint8_t>(good[kHeader + 1]) << 8;
  for (size_t at = kHeader + 8; at < kHeader + 8 + first_length; ++at) {
    SCOPED_TRACE(fmt::format("byte {} flipped", at));
    std::string bad = good;
    bad[at] ^= 0x01;
    SetBytes(bad);
    auto opened = FlowJournal::Open(path_);
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().message.find(path_), std::string::npos) << opened.error().message;
    EXPECT_NE(opened.error().message.find(fmt::format("offset {}", kHeader)), std::string::npos)
        << opened.error().message;
    EXPECT_EQ(Bytes(), bad);
  }
  // A length over the limit.
  std::string bad = good;
  bad[kHeader + 3] = 0x7f;
  SetBytes(bad);
  auto opened = FlowJournal::Open(path_);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("1 GiB"), std::string::npos) << opened.error().message;
  EXPECT_EQ(Bytes(), bad);
}

// Damage that keeps the checksums right: a body that is wrong in itself.
TEST_F(FlowJournalTest, BodiesThatDoNotParseAreErrors) {
  {
    auto opened = MustOpen();
    ASSERT_TRUE(opened.journal->AppendFlowMods("br0", {Add("table=2,actions=output:2")}));
    ASSERT_TRUE(opened.journal->AppendClearBridge("br0"));
  }
  std::string good = Bytes();
  uint32_t first_length =
      static_cast<uint8_t>(good[kHeader]) | static_cast<uint8_t>(good[kHeader + 1]) << 8;
  size_t body = kHeader + 8;
  auto with = [&](size_t at, char value) {
    std::string bad = good;
    bad[at] = value;
    uint32_t sum = XXH32(bad.data() + body, first_length, 0);
    for (int i = 0; i < 4; ++i) bad[kHeader + 4 + i] = static_cast<char>(sum >> (8 * i));
    return bad;
  };
  struct Case {
    size_t at;
    char value;
    const char* says;
  } cases[] = {
      {body + 0, 9, "kind"},               // unknown kind
      {body + 1, 0, "seq 0"},              // seq 0 does not follow the base seq 0
      {body + 9, 100, "bridge name"},      // name longer than the body
      {body + 14, 2, "flow-mod 1"},        // count 2, one present
      {body + 18 + 1, 2, "not FLOW_MOD"},  // an ECHO_REQUEST's type in the OpenFlow header
      {body + 18 + 25, 9, "flow-mod 0"},   // flow-mod command 9
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.says);
    std::string bad = with(c.at, c.value);
    SetBytes(bad);
    auto opened = FlowJournal::Open(path_);
    ASSERT_FALSE(opened);
    EXPECT_NE(opened.error().message.find(path_), std::string::npos) << opened.error().message;
    EXPECT_NE(opened.error().message.find(fmt::format("offset {}", kHeader)), std::string::npos)
        << opened.error().message;
    EXPECT_NE(opened.error().message.find(c.says), std::string::npos) << opened.error().message;
    EXPECT_EQ(Bytes(), bad);
  }
  // Seqs must increase from record to record: give the second record seq 1.
  std::string bad = good;
  size_t second = kHeader + 8 + first_length;
  bad[second + 8 + 1] = 1;
  uint32_t second_length = static_cast<uint8_t>(good[second]);
  uint32_t sum = XXH32(bad.data() + second + 8, second_length, 0);
  for (int i = 0; i < 4; ++i) bad[second + 4 + i] = static_cast<char>(sum >> (8 * i));
  SetBytes(bad);
  auto opened = FlowJournal::Open(path_);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find(fmt::format("offset {}", second)), std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find("seq 1 does not follow seq 1"), std::string::npos)
      << opened.error().message;
}

TEST_F(FlowJournalTest, WrongMagicVersionOrHeader) {
  { MustOpen(); }
  std::string good = Bytes();

  std::string bad = good;
  bad[8] = 7;
  SetBytes(bad);
  auto opened = FlowJournal::Open(path_);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().message,
            path_ + ": journal format version 7; this hsw-vswitchd reads version 1");
  EXPECT_EQ(Bytes(), bad);

  SetBytes("{\"schema_version\": 1}\n");
  opened = FlowJournal::Open(path_);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("not an hsw flow journal"), std::string::npos)
      << opened.error().message;
  EXPECT_NE(opened.error().message.find(path_), std::string::npos);

  SetBytes("");
  EXPECT_FALSE(FlowJournal::Open(path_));
  SetBytes(good.substr(0, 20));
  opened = FlowJournal::Open(path_);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("shorter"), std::string::npos) << opened.error().message;

  bad = good;
  bad[20] ^= 1;  // inside the id
  SetBytes(bad);
  opened = FlowJournal::Open(path_);
  ASSERT_FALSE(opened);
  EXPECT_NE(opened.error().message.find("header checksum"), std::string::npos)
      << opened.error().message;
  EXPECT_EQ(Bytes(), bad);
}

TEST_F(FlowJournalTest, Compact) {
  auto opened = MustOpen();
  FlowJournal& j = *opened.journal;
  std::string id = j.position().id;
  for (int i = 0; i < 120; ++i) {
    std::vector<FlowMod> batch;
    for (int k = 0; k < 100; ++k) {
      batch.push_back(Add(fmt::format("priority={},ip,nw_dst=10.{}.{}.0/24,actions=output:{}",
                                      k + 1, i, k, i + 1)));
    }
    ASSERT_TRUE(j.AppendFlowMods(i % 2 ? "br0" : "br1", batch));
    if (i % 10 == 0) {
      ASSERT_TRUE(j.AppendFlowMods("br1", {Delete("")}));
    }
  }
  EXPECT_FALSE(j.NeedsCompaction(1010));  // 12012 flow-mods, 12020 allowed
  EXPECT_TRUE(j.NeedsCompaction(5));
  uint64_t seq_before = j.position().seq;
  uint64_t size_before = j.size_bytes();

  std::map<std::string, std::vector<FlowMod>> snapshot = {
      {"br0",
       {Add("priority=1,ip,nw_dst=10.1.0.0/24,actions=output:2"),
        Add("table=3,priority=7,tcp,tp_dst=22,actions=CONTROLLER:65535")}},
      {"br1", {Add("actions=NORMAL")}},
      {"br2", {}},
  };
  ASSERT_TRUE(j.Compact(snapshot));
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
  EXPECT_EQ(j.position().id, id);
  EXPECT_EQ(j.position().seq, seq_before + 3);
  EXPECT_LT(j.size_bytes(), size_before);
  EXPECT_EQ(j.size_bytes(), fs::file_size(path_));
  EXPECT_FALSE(j.NeedsCompaction(0));

  std::vector<JournalRecord> expected = {FlowModsRecord(seq_before + 1, "br0", snapshot["br0"]),
                                         FlowModsRecord(seq_before + 2, "br1", snapshot["br1"]),
                                         FlowModsRecord(seq_before + 3, "br2", {})};
  {
    auto reopened = MustOpen();
    EXPECT_EQ(reopened.note, "");
    EXPECT_EQ(Describe(reopened.records), Describe(expected));
    EXPECT_EQ(reopened.journal->position(), j.position());
    EXPECT_FALSE(reopened.journal->NeedsCompaction(0));
  }

  // Appends after a compaction go to the new file, not the replaced one.
  ASSERT_TRUE(j.AppendClearBridge("br2"));
  expected.push_back(ClearRecord(seq_before + 4, "br2"));
  {
    auto reopened = MustOpen();
    EXPECT_EQ(Describe(reopened.records), Describe(expected));
  }

  // An empty snapshot keeps the seq: it is in the header.
  ASSERT_TRUE(j.Compact({}));
  EXPECT_EQ(j.position().seq, seq_before + 4);
  EXPECT_EQ(j.size_bytes(), kHeader);
  auto reopened = MustOpen();
  EXPECT_TRUE(reopened.records.empty());
  EXPECT_EQ(reopened.journal->position(), (JournalPosition{id, seq_before + 4}));
  ASSERT_TRUE(reopened.journal->AppendClearBridge("br0"));
  EXPECT_EQ(reopened.journal->position().seq, seq_before + 5);
}

TEST_F(FlowJournalTest, LeftoverSnapshotFromADeadCompactionIsIgnored) {
  std::vector<JournalRecord> expected = WriteSample();
  ASSERT_TRUE(WriteFileAtomic(path_ + ".tmp", "half a snapshot"));
  auto opened = MustOpen();
  EXPECT_EQ(Describe(opened.records), Describe(expected));
  EXPECT_FALSE(fs::exists(path_ + ".tmp"));
}

// RLIMIT_FSIZE makes write() short (then fail with EFBIG) at a chosen size.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit lim = saved_;
    lim.rlim_cur = limit;
    setrlimit(RLIMIT_FSIZE, &lim);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, old_handler_);
  }

 private:
  rlimit saved_{};
  sighandler_t old_handler_;
};

TEST_F(FlowJournalTest, FailedAppendLeavesNoGarbage) {
  auto opened = MustOpen();
  FlowJournal& j = *opened.journal;
  ASSERT_TRUE(j.AppendFlowMods("br0", {Add("in_port=1,actions=output:2")}));
  uint64_t good = j.size_bytes();
  std::vector<FlowMod> batch = {Add("in_port=2,actions=output:1"),
                                Add("ip,nw_dst=10.0.0.1,actions=output:3")};
  {
    FileSizeLimit limit(good + 20);
    auto short_write = j.AppendFlowMods("br0", batch);
    ASSERT_FALSE(short_write);
    EXPECT_NE(short_write.error().message.find("wrote only 20 of"), std::string::npos)
        << short_write.error().ToString();
    EXPECT_EQ(fs::file_size(path_), good + 20);  // a torn record, for now
  }
  {
    FileSizeLimit limit(good);
    auto failed_write = j.AppendFlowMods("br0", batch);  // the cut happens; the write fails
    ASSERT_FALSE(failed_write);
    EXPECT_EQ(failed_write.error().code, EFBIG) << failed_write.error().ToString();
    EXPECT_EQ(fs::file_size(path_), good);
  }
  EXPECT_EQ(j.position().seq, 1u);
  EXPECT_EQ(j.size_bytes(), good);
  ASSERT_TRUE(j.AppendFlowMods("br0", batch));
  ASSERT_TRUE(j.AppendClearBridge("br1"));
  auto reopened = MustOpen();
  EXPECT_EQ(reopened.note, "");
  EXPECT_EQ(Describe(reopened.records),
            Describe(std::vector<JournalRecord>{
                FlowModsRecord(1, "br0", {Add("in_port=1,actions=output:2")}),
                FlowModsRecord(2, "br0", batch), ClearRecord(3, "br1")}));
}

}  // namespace
}  // namespace hsw::vswitchd
