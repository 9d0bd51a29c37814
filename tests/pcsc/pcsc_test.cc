// PC/SC reader and card events, with the real parts: a pcscd of each test's
// own, vsmartcard's virtual reader (vpcd) and vicc as the card
// (tests/support/pcsc.h). First the agent's reader watcher by itself, then
// tessera-agent serving the keys of a SoftHSM2 token behind tessera-p11-fault
// with reader=<the virtual reader>, so that the token is in only while vicc
// runs. The agent polls its providers once an hour here, so whatever it
// notices at once it learned from pcscd.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/event_loop.h"
#include "daemon/readers.h"
#include "pcsc.h"
#include "softhsm_tokens.h"
#include "test_support.h"

namespace tessera::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using agent::daemon::ReaderEvent;
using agent::daemon::ReadersSnapshot;
using agent::daemon::ReaderWatcher;

constexpr const char* kPin = kFixturePin;
// Keys of the fixture tokens (softhsm-fixtures/README.md): six on
// tessera-main, two on tessera-always-auth.
constexpr size_t kFixtureKeys = 8;
// How long a test waits for what should come at once (a loaded 2-core
// machine may be slow), and what "at once" is held to.
constexpr auto kPatience = 15s;
constexpr auto kPrompt = 3s;

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = kPatience) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

size_t count_lines(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

// ---------------------------------------------------------------------------
// The watcher in this process.

class ReaderWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = VirtualReader::unavailable(); !why.empty()) GTEST_SKIP() << why;
  }

  // libpcsclite reads PCSCLITE_CSOCK_NAME once per process: every test here
  // (and every round of --gtest_repeat) uses the same directory.
  static const std::string& process_dir() {
    static TempDir dir;
    static const std::string path = [] {
      std::string p = dir.file("pcsc");
      ::setenv("PCSCLITE_CSOCK_NAME", (p + "/run/pcscd/pcscd.comm").c_str(), 1);
      return p;
    }();
    return path;
  }

  struct Recorder {
    std::mutex mu;
    std::vector<ReaderEvent> events;
    bool saw(ReaderEvent::Kind kind, const std::string& reader) {
      std::lock_guard lock(mu);
      return std::any_of(events.begin(), events.end(),
                         [&](const ReaderEvent& e) { return e.kind == kind && e.reader == reader; });
    }
    size_t count(ReaderEvent::Kind kind) {
      std::lock_guard lock(mu);
      return static_cast<size_t>(
          std::count_if(events.begin(), events.end(), [&](const ReaderEvent& e) { return e.kind == kind; }));
    }
    void clear() {
      std::lock_guard lock(mu);
      events.clear();
    }
  };

  static bool card_in(const ReadersSnapshot& snapshot, const std::string& reader) {
    return std::any_of(snapshot.readers.begin(), snapshot.readers.end(),
                       [&](const auto& r) { return r.name == reader && r.card_present; });
  }
};

TEST_F(ReaderWatcherTest, FollowsPcscdReadersAndCardsThroughRestartsAndStopsAtOnce) {
  const std::string dir = process_dir();
  VirtualReader pcsc(dir);
  ASSERT_TRUE(pcsc.started()) << pcsc.log();
  pcsc.stop_pcscd();  // the watcher starts before pcscd does
  const std::string reader = pcsc.reader();

  auto loop = agent::daemon::EventLoop::create();
  ASSERT_TRUE(loop.ok());
  Recorder recorder;
  std::atomic<bool> on_loop_thread{true};
  std::thread::id loop_thread;
  ReaderWatcher watcher(**loop, [&](const ReaderEvent& event) {
    if (std::this_thread::get_id() != loop_thread) on_loop_thread = false;
    std::lock_guard lock(recorder.mu);
    recorder.events.push_back(event);
  });
  std::thread serving([&] {
    loop_thread = std::this_thread::get_id();
    (*loop)->run();
  });
  // The watcher is started and stopped on the loop's thread, as the agent does.
  auto on_loop = [&](std::function<void()> task) {
    std::promise<void> done;
    (*loop)->post([&] {
      task();
      done.set_value();
    });
    done.get_future().wait();
  };
  EXPECT_EQ(watcher.snapshot().service, ReadersSnapshot::Service::kNotWatched);
  on_loop([&] { watcher.start(); });
  EXPECT_TRUE(eventually([&] { return watcher.snapshot().service == ReadersSnapshot::Service::kAbsent; }));

  // pcscd comes: both of vpcd's readers, no card.
  ASSERT_TRUE(pcsc.start_pcscd()) << pcsc.log();
  EXPECT_TRUE(eventually([&] { return recorder.count(ReaderEvent::Kind::kReaderAdded) == 2; })) << pcsc.log();
  auto snapshot = watcher.snapshot();
  EXPECT_EQ(snapshot.service, ReadersSnapshot::Service::kRunning);
  ASSERT_EQ(snapshot.readers.size(), 2u);
  EXPECT_EQ(snapshot.readers[0].name, reader);
  EXPECT_FALSE(snapshot.readers[0].card_present);

  // A card in, and out.
  ASSERT_TRUE(pcsc.insert_card());
  EXPECT_TRUE(eventually([&] { return recorder.saw(ReaderEvent::Kind::kCardInserted, reader); })) << pcsc.log();
  EXPECT_TRUE(card_in(watcher.snapshot(), reader));
  pcsc.remove_card();
  EXPECT_TRUE(eventually([&] { return recorder.saw(ReaderEvent::Kind::kCardRemoved, reader); })) << pcsc.log();
  EXPECT_FALSE(card_in(watcher.snapshot(), reader));

  // pcscd killed: its readers count as unplugged; restarted: back, and
  // cards are followed again.
  ASSERT_TRUE(pcsc.insert_card());
  EXPECT_TRUE(eventually([&] { return card_in(watcher.snapshot(), reader); })) << pcsc.log();
  recorder.clear();
  pcsc.kill_pcscd();
  EXPECT_TRUE(eventually([&] { return recorder.count(ReaderEvent::Kind::kReaderRemoved) == 2; }));
  EXPECT_TRUE(eventually([&] { return watcher.snapshot().service == ReadersSnapshot::Service::kAbsent; }));
  EXPECT_TRUE(watcher.snapshot().readers.empty());
  ASSERT_TRUE(pcsc.start_pcscd()) << pcsc.log();
  ASSERT_TRUE(pcsc.insert_card());  // vicc ends when vpcd goes away
  EXPECT_TRUE(eventually([&] { return card_in(watcher.snapshot(), reader); })) << pcsc.log();
  EXPECT_EQ(watcher.snapshot().service, ReadersSnapshot::Service::kRunning);
  pcsc.remove_card();
  EXPECT_TRUE(eventually([&] { return recorder.saw(ReaderEvent::Kind::kCardRemoved, reader); })) << pcsc.log();
  EXPECT_TRUE(on_loop_thread.load()) << "events reach the handler on the loop's thread only";

  // stop() ends a wait in pcscd at once.
  const auto before_stop = Clock::now();
  on_loop([&] { watcher.stop(); });
  EXPECT_LT(Clock::now() - before_stop, 1s);
  EXPECT_EQ(watcher.snapshot().service, ReadersSnapshot::Service::kNotWatched);
  (*loop)->stop();
  serving.join();
}

// ---------------------------------------------------------------------------
// tessera-agent, with the token in a virtual reader.

class PcscAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = VirtualReader::unavailable(); !why.empty()) GTEST_SKIP() << why;
    if (auto why = softhsm_missing(); !why.empty()) GTEST_SKIP() << why;
    softhsm_conf_ = copy_fixture_tokens(dir_.path().string());
    ASSERT_FALSE(softhsm_conf_.empty());
    socket_ = dir_.file("agent.sock");
    // An askpass that notes each prompt (one line each) and gives the PIN.
    askpass_log_ = dir_.file("askpass.log");
    write_file(dir_.file("askpass"),
               "#!/bin/sh\nprintf '%s\\n' \"$(printf '%s' \"$1\" | tr '\\n' '|')\" >> " + askpass_log_ +
                   "\nprintf '%s\\n' " + kPin + "\n",
               0755);
  }

  // pcscd (no card yet) and a token that lives in its reader.
  void start_pcsc() {
    pcsc_ = std::make_unique<VirtualReader>(dir_.file("pcsc"));
    ASSERT_TRUE(pcsc_->started()) << pcsc_->log();
    reader_ = pcsc_->reader();
    control("reader=" + reader_ + "\n");
  }

  void start_agent(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {tessera_bin("tessera-agent"), "-d", "-a", socket_, "-P",
                                     "/usr/lib*/*," + fault_module_dir() + "/*", "--pkcs11-poll", "1h",
                                     "--pkcs11-timeout", "120"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::vector<std::string> env = {"SOFTHSM2_CONF=" + softhsm_conf_, "SSH_ASKPASS=" + dir_.file("askpass"),
                                    "SSH_ASKPASS_REQUIRE=force", "TESSERA_P11_FAULT_MODULE=" + std::string(kSoftHsmModule),
                                    "TESSERA_P11_FAULT_CONTROL=" + dir_.file("control")};
    // Without a pcscd of the test's own, one that is not there at all (not
    // the machine's).
    env.push_back(pcsc_ ? pcsc_->env() : "PCSCLITE_CSOCK_NAME=" + dir_.file("no-pcscd/pcscd.comm"));
    agent_ = std::make_unique<BackgroundProcess>(argv, dir_.file("agent.log"), env);
    ASSERT_TRUE(agent_->started());
    ASSERT_TRUE(wait_for_unix_socket(socket_)) << agent_log();
  }

  static std::string fault_module_dir() {
    return std::filesystem::canonical(std::filesystem::path(TESSERA_P11_FAULT_PATH).parent_path()).string();
  }
  void control(const std::string& text) { write_file_atomically(dir_.file("control"), text); }

  CommandResult ssh_add(const std::vector<std::string>& args, const std::string& input = {}) {
    std::vector<std::string> argv = {"timeout", "120", "ssh-add"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, {"SSH_AUTH_SOCK=" + socket_, "SSH_ASKPASS_REQUIRE=never", "DISPLAY="});
  }
  size_t listed_count() { return count_lines(ssh_add({"-l"}).out, "pkcs11:"); }

  // Puts the card in and waits until the agent has heard of it from pcscd.
  void insert_card() {
    const size_t seen = card_events("card inserted") + card_events("plugged in, with a card");
    ASSERT_TRUE(pcsc_->insert_card()) << pcsc_->log();
    ASSERT_TRUE(eventually([&] {
      return card_events("card inserted") + card_events("plugged in, with a card") > seen;
    })) << "the agent never heard of the card\n" << pcsc_->log() << agent_log();
  }
  size_t card_events(const std::string& what) {
    return count_lines(read_file(dir_.file("agent.log")), "reader '" + reader_ + "': " + what);
  }

  // pcscd with the card in, an agent that does not follow reader events,
  // and the token's keys added.
  void start_without_reader_events() {
    start_pcsc();
    start_agent({"--no-reader-events"});
    ASSERT_TRUE(pcsc_->insert_card());
    // Nothing tells the agent the card is in: add once the module sees it.
    ASSERT_TRUE(eventually([&] { return ssh_add({"-s", TESSERA_P11_FAULT_PATH}, std::string(kPin) + "\n").exit_code == 0; }))
        << agent_log();
    ASSERT_EQ(listed_count(), kFixtureKeys);
  }

  void add_provider(const std::string& pin = kPin) {
    auto added = ssh_add({"-s", TESSERA_P11_FAULT_PATH}, pin + "\n");
    ASSERT_EQ(added.exit_code, 0) << added.out << added.err << agent_log();
  }

  // A file with the public key of the listed token key with this label.
  std::string public_key_file(const std::string& label) {
    std::istringstream in(ssh_add({"-L"}).out);
    for (std::string line; std::getline(in, line);) {
      if (line.size() > label.size() && line.ends_with("object=" + label)) {
        std::string path = dir_.file(label + ".pub");
        write_file(path, line + "\n");
        return path;
      }
    }
    ADD_FAILURE() << "no listed key " << label << agent_log();
    return {};
  }

  // Values picked out of tessera-add --status --json by Python expressions
  // over `d`, one line each.
  std::string status(const std::string& exprs) {
    auto report = run({tessera_bin("tessera-add"), "--status", "--json"}, "", {"SSH_AUTH_SOCK=" + socket_});
    auto picked = run({"python3", "-c", "import json, sys\nd = json.load(sys.stdin)\n" + exprs}, report.out);
    EXPECT_EQ(picked.exit_code, 0) << picked.err << report.out << report.err;
    return picked.out;
  }

  size_t prompts() {
    return std::filesystem::exists(askpass_log_) ? count_lines(read_file(askpass_log_), "Enter PIN") : 0;
  }
  std::string agent_log() { return "\nagent log:\n" + read_file(dir_.file("agent.log")); }

  TempDir dir_;
  std::string softhsm_conf_, socket_, askpass_log_, reader_;
  std::unique_ptr<VirtualReader> pcsc_;
  std::unique_ptr<BackgroundProcess> agent_;
};

TEST_F(PcscAgentTest, CardOutHidesKeysAndForgetsThePinCardInShowsThemAtOnce) {
  start_pcsc();
  start_agent();
  insert_card();
  add_provider();
  EXPECT_EQ(listed_count(), kFixtureKeys) << agent_log();
  const std::string ec256 = public_key_file("ec256");
  ASSERT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();
  EXPECT_EQ(prompts(), 0u) << "the PIN given at add time is used";

  // Out: the keys leave with no signature tried.
  const size_t signatures = count_lines(read_file(dir_.file("agent.log")), "SIGN_REQUEST");
  const auto pulled = Clock::now();
  pcsc_->remove_card();
  ASSERT_TRUE(eventually([&] { return listed_count() == 0; })) << agent_log();
  const auto hidden_after = Clock::now() - pulled;
  EXPECT_EQ(count_lines(read_file(dir_.file("agent.log")), "SIGN_REQUEST"), signatures);
  EXPECT_LT(hidden_after, kPrompt) << agent_log();
  std::printf("keys hidden %lld ms after the card was pulled out\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(hidden_after).count()));
  EXPECT_NE(read_file(dir_.file("agent.log")).find("was removed from reader '" + reader_ + "'"), std::string::npos)
      << agent_log();

  // In: back at once (the poll is an hour away), and the PIN is asked again.
  const auto put_in = Clock::now();
  ASSERT_TRUE(pcsc_->insert_card());
  ASSERT_TRUE(eventually([&] { return listed_count() == kFixtureKeys; })) << pcsc_->log() << agent_log();
  const auto shown_after = Clock::now() - put_in;
  EXPECT_LT(shown_after, kPrompt + 2s) << agent_log();
  std::printf("keys back %lld ms after the card was put in\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(shown_after).count()));
  EXPECT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();
  EXPECT_EQ(prompts(), 1u) << "the PIN was forgotten with the card" << agent_log();
}

// tessera-add --status shows the reader, its card, and the token that went
// with the card.
TEST_F(PcscAgentTest, StatusReportShowsTheReaderAndItsCard) {
  start_pcsc();
  start_agent();
  insert_card();
  add_provider();
  const std::string reader = "[r for r in d['readers']['readers'] if r['name'] == '" + reader_ + "'][0]";
  const std::string token = "[t for t in d['providers'][0]['tokens'] if t['label'] == 'tessera-main'][0]";
  EXPECT_EQ(status("print(d['readers']['service'], " + reader + "['card_present'], " + token + "['present'], " +
                   token + "['slot'] == '" + reader_ + "'[:64].rstrip())"),
            "running True True True\n")
      << agent_log();
  pcsc_->remove_card();
  EXPECT_TRUE(eventually([&] {
    return status("print(" + reader + "['card_present'], " + token + "['present'])") == "False False\n";
  })) << status("print(d)") << agent_log();
}

TEST_F(PcscAgentTest, PcscdKilledAndRestartedIsFollowedAgain) {
  start_pcsc();
  start_agent();
  insert_card();
  add_provider();
  ASSERT_EQ(listed_count(), kFixtureKeys);

  // Without pcscd no PC/SC token works: the keys go.
  pcsc_->kill_pcscd();
  EXPECT_TRUE(eventually([&] { return listed_count() == 0; })) << agent_log();
  ASSERT_TRUE(pcsc_->start_pcscd()) << pcsc_->log();
  insert_card();
  EXPECT_TRUE(eventually([&] { return listed_count() == kFixtureKeys; })) << agent_log();

  // Events still come from the new pcscd.
  pcsc_->remove_card();
  EXPECT_TRUE(eventually([&] { return listed_count() == 0; }, kPrompt)) << agent_log();
  insert_card();
  EXPECT_TRUE(eventually([&] { return listed_count() == kFixtureKeys; })) << agent_log();
  EXPECT_EQ(ssh_add({"-T", public_key_file("ed25519")}).exit_code, 0) << agent_log();
}

TEST_F(PcscAgentTest, WithoutPcscdTheAgentServesAndThePollStillWorks) {
  // No pcscd at all, and a token in no reader: the poll notices.
  control("");
  start_agent({"--pkcs11-poll", "1"});
  add_provider();
  EXPECT_EQ(listed_count(), kFixtureKeys);
  EXPECT_EQ(ssh_add({"-T", public_key_file("ec256")}).exit_code, 0) << agent_log();
  control("removed=1\n");
  EXPECT_TRUE(eventually([&] { return listed_count() == 0; })) << agent_log();
  control("removed=0\n");
  EXPECT_TRUE(eventually([&] { return listed_count() == kFixtureKeys; })) << agent_log();
  EXPECT_NE(read_file(dir_.file("agent.log")).find("cannot reach pcscd"), std::string::npos) << agent_log();
  // Told once, not at every attempt.
  EXPECT_EQ(count_lines(read_file(dir_.file("agent.log")), "cannot reach pcscd"), 1u) << agent_log();
  EXPECT_EQ(status("print(d['readers'])"), "{'service': 'absent', 'readers': []}\n");
}

TEST_F(PcscAgentTest, SignatureWaitingOnAPulledCardFailsAtOnceWhileOthersAreServed) {
  start_pcsc();
  control("reader=" + reader_ + "\nhang=C_Sign:forever\n");
  start_agent();
  insert_card();
  add_provider();
  const std::string ec256 = public_key_file("ec256");
  // A file key, served by the agent itself.
  ASSERT_EQ(run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir_.file("file_key")}).exit_code, 0);
  ASSERT_EQ(ssh_add({dir_.file("file_key")}).exit_code, 0) << agent_log();

  auto waiting = std::async(std::launch::async, [&] {
    auto result = ssh_add({"-T", ec256});
    return std::make_pair(result, Clock::now());
  });
  ASSERT_TRUE(eventually([&] { return read_file(dir_.file("agent.log")).find("hanging in C_Sign") != std::string::npos; }))
      << agent_log();
  const auto pulled = Clock::now();
  pcsc_->remove_card();
  ASSERT_EQ(waiting.wait_for(kPatience), std::future_status::ready) << "the signature still waits" << agent_log();
  auto [result, answered] = waiting.get();
  EXPECT_NE(result.exit_code, 0);
  EXPECT_LT(answered - pulled, kPrompt) << agent_log();
  std::printf("the waiting signature failed %lld ms after the card was pulled out\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(answered - pulled).count()));
  const std::string log = read_file(dir_.file("agent.log"));
  EXPECT_NE(log.find("token 'tessera-main' was removed from reader '" + reader_ + "': insert it and try again"),
            std::string::npos)
      << agent_log();
  // Others are served meanwhile: the identity list, and a file key's signature.
  EXPECT_EQ(ssh_add({"-l"}).exit_code, 0);
  EXPECT_EQ(ssh_add({"-T", dir_.file("file_key.pub")}).exit_code, 0) << agent_log();
  // The helper's own answer, when its hang ends, is dropped.
  control("reader=" + reader_ + "\n");
  ASSERT_TRUE(pcsc_->insert_card());
  EXPECT_TRUE(eventually([&] { return listed_count() == kFixtureKeys; })) << agent_log();
  EXPECT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();
}

// A card pulled out and put back with nothing asking the module in between
// (no reader events here, the poll an hour away) leaves the helper's pooled
// sessions of the earlier insertion dead, and the card logged out. The next
// signature is still made: the helper tries once more on a fresh session,
// and the agent logs in again with the PIN it holds.
TEST_F(PcscAgentTest, CardPulledAndPutBackUnnoticedStillSigns) {
  ASSERT_NO_FATAL_FAILURE(start_without_reader_events());
  const std::string ec256 = public_key_file("ec256");
  ASSERT_EQ(ssh_add({"-T", ec256}).exit_code, 0) << agent_log();  // a session now waits in the pool
  pcsc_->remove_card();
  ASSERT_TRUE(pcsc_->wait_for_card(false)) << pcsc_->log();
  ASSERT_TRUE(pcsc_->insert_card());
  ASSERT_TRUE(pcsc_->wait_for_card(true)) << pcsc_->log();
  auto signed_again = ssh_add({"-T", ec256});
  EXPECT_EQ(signed_again.exit_code, 0) << signed_again.err << agent_log();
  EXPECT_EQ(listed_count(), kFixtureKeys) << agent_log();
  EXPECT_EQ(prompts(), 0u);  // the PIN the agent held, not a new prompt
}

TEST_F(PcscAgentTest, NoReaderEventsLeavesRemovalToThePoll) {
  ASSERT_NO_FATAL_FAILURE(start_without_reader_events());
  pcsc_->remove_card();
  // The poll is an hour away and pcscd is not asked: the keys stay.
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(listed_count(), kFixtureKeys) << agent_log();
  EXPECT_EQ(read_file(dir_.file("agent.log")).find("reader '"), std::string::npos) << agent_log();
}

}  // namespace
}  // namespace tessera::test
