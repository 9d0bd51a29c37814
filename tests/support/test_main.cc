// The main() of every test binary: GoogleTest's own, plus one rule for CI.
//
// Under CI=true a skipped test fails. CI runs on a clean machine after
// scripts/install-deps.sh, which installs every program the tests use, so a
// test that skips there ("ssh-keygen is not installed") means a missing
// install step, and must not pass quietly.
//
// GoogleTest has no switch for this, and CTest reads "[  SKIPPED ]" in a
// test's output as a skip whatever its exit status (gtest_discover_tests sets
// that rule). So under CI=true the result printer is wrapped: a skipped test
// is printed as failed, and the program exits 1.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using ::testing::TestEventListener;
using ::testing::TestInfo;
using ::testing::TestPartResult;
using ::testing::TestSuite;
using ::testing::UnitTest;

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::string_view(ci) == "true" || std::string_view(ci) == "1");
}

// GoogleTest's printer, except that skipped tests are reported as failures.
class SkipIsFailurePrinter : public TestEventListener {
 public:
  explicit SkipIsFailurePrinter(TestEventListener* printer) : printer_(printer) {}

  void OnTestProgramStart(const UnitTest& u) override { printer_->OnTestProgramStart(u); }
  void OnTestIterationStart(const UnitTest& u, int i) override { printer_->OnTestIterationStart(u, i); }
  void OnEnvironmentsSetUpStart(const UnitTest& u) override { printer_->OnEnvironmentsSetUpStart(u); }
  void OnEnvironmentsSetUpEnd(const UnitTest& u) override { printer_->OnEnvironmentsSetUpEnd(u); }
  void OnTestSuiteStart(const TestSuite& s) override { printer_->OnTestSuiteStart(s); }
  void OnTestStart(const TestInfo& t) override { printer_->OnTestStart(t); }
  void OnTestPartResult(const TestPartResult& r) override { printer_->OnTestPartResult(r); }
  void OnTestEnd(const TestInfo& t) override {
    if (!t.result()->Skipped()) return printer_->OnTestEnd(t);
    skipped_.push_back(std::string(t.test_suite_name()) + "." + t.name());
    std::printf("[  FAILED  ] %s was skipped under CI=true: scripts/install-deps.sh must install what it needs\n",
                skipped_.back().c_str());
    std::fflush(stdout);
  }
  void OnTestSuiteEnd(const TestSuite& s) override { printer_->OnTestSuiteEnd(s); }
  void OnEnvironmentsTearDownStart(const UnitTest& u) override { printer_->OnEnvironmentsTearDownStart(u); }
  void OnEnvironmentsTearDownEnd(const UnitTest& u) override { printer_->OnEnvironmentsTearDownEnd(u); }
  void OnTestIterationEnd(const UnitTest& u, int i) override {
    // GoogleTest's summary would list the skipped tests as skipped.
    if (skipped_.empty()) return printer_->OnTestIterationEnd(u, i);
    std::printf("[  FAILED  ] %zu test(s) skipped under CI=true:\n", skipped_.size());
    for (const auto& name : skipped_) std::printf("[  FAILED  ] %s\n", name.c_str());
    std::fflush(stdout);
  }
  void OnTestProgramEnd(const UnitTest& u) override { printer_->OnTestProgramEnd(u); }

  bool any_skipped() const { return !skipped_.empty(); }

 private:
  std::unique_ptr<TestEventListener> printer_;
  std::vector<std::string> skipped_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!running_in_ci()) return RUN_ALL_TESTS();
  auto& listeners = UnitTest::GetInstance()->listeners();
  auto* printer = new SkipIsFailurePrinter(listeners.Release(listeners.default_result_printer()));
  listeners.Append(printer);  // owned by GoogleTest from here
  const int status = RUN_ALL_TESTS();
  return printer->any_skipped() ? 1 : status;
}
