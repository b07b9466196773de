// The same cases run over every WindowStore implementation.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "state/memory_store.h"
#include "state/rocksdb_store.h"
#include "tests/unit/temp_dir.h"

namespace uniqd::state {
namespace {

using test_support::TempDir;

using Factory = std::function<std::shared_ptr<WindowStore>()>;

// A name for the test's title (gtest would print the function's bytes).
struct Subject {
  std::string name;
  Factory make;
};

std::shared_ptr<WindowStore> make_rocksdb_store(int shards) {
  auto dir = std::make_shared<TempDir>();
  std::unique_ptr<RocksDbStore> store;
  const auto s = RocksDbStore::open({.path = dir->path() + "/db", .shards = shards}, &store);
  if (!s.ok()) throw std::runtime_error(s.ToString());
  // The deleter owns the directory, so it goes only after the store closed.
  return std::shared_ptr<WindowStore>(store.release(), [dir](WindowStore* p) { delete p; });
}

class WindowStoreTest : public ::testing::TestWithParam<Subject> {};

TEST_P(WindowStoreTest, InsertCountErase) {
  auto store = GetParam().make();
  const WindowKey a{0, 60}, b{1, 3600};
  auto ha = store->open(a);
  auto hb = store->open(b);
  EXPECT_TRUE(store->insert(ha, processor::hash_uid("x")));
  EXPECT_FALSE(store->insert(ha, processor::hash_uid("x")));
  EXPECT_TRUE(store->insert(ha, processor::hash_uid("y")));
  EXPECT_TRUE(store->insert(hb, processor::hash_uid("x")));
  EXPECT_EQ(store->count(ha), 2u);
  EXPECT_EQ(store->count(hb), 1u);
  EXPECT_EQ(store->pairs(), 3u);
  EXPECT_EQ(store->open(a), ha) << "opening an open window returns the same set";
  store->erase(a);
  EXPECT_EQ(store->pairs(), 1u);
  auto ha2 = store->open(a);
  EXPECT_EQ(store->count(ha2), 0u);
}

TEST_P(WindowStoreTest, ManyUsers) {
  auto store = GetParam().make();
  auto h = store->open({2, 0});
  for (int i = 0; i < 100000; ++i) store->insert(h, processor::hash_uid(std::to_string(i % 50000)));
  EXPECT_EQ(store->count(h), 50000u);
  EXPECT_GT(store->memory_bytes(), 50000u * 16);
}

TEST_P(WindowStoreTest, ManyWindowsEraseAndReopen) {
  auto store = GetParam().make();
  constexpr int kWindows = 200;
  auto key = [](int i) { return WindowKey{static_cast<std::uint8_t>(i % 3), (i - kWindows / 2) * 60}; };
  std::uint64_t expected_pairs = 0;
  for (int i = 0; i < kWindows; ++i) {
    auto h = store->open(key(i));
    for (int u = 0; u <= i % 17; ++u) EXPECT_TRUE(store->insert(h, processor::hash_uid(std::to_string(u))));
    expected_pairs += i % 17 + 1;
  }
  EXPECT_EQ(store->pairs(), expected_pairs);
  for (int i = 0; i < kWindows; i += 2) {
    store->erase(key(i));
    expected_pairs -= i % 17 + 1;
  }
  store->erase({9, 12345});  // never opened: nothing happens
  EXPECT_EQ(store->pairs(), expected_pairs);
  for (int i = 0; i < kWindows; ++i) {
    auto h = store->open(key(i));
    EXPECT_EQ(store->count(h), i % 2 == 0 ? 0u : static_cast<std::uint64_t>(i % 17 + 1)) << "window " << i;
    if (i % 2 == 0) {
      EXPECT_TRUE(store->insert(h, processor::hash_uid("0"))) << "an erased window starts empty";
      ++expected_pairs;
    }
  }
  EXPECT_EQ(store->pairs(), expected_pairs);
}

TEST_P(WindowStoreTest, HandleSurvivesEraseOfAnotherWindow) {
  auto store = GetParam().make();
  auto ha = store->open({0, 0});
  auto hb = store->open({0, 60});
  auto hc = store->open({0, 120});
  for (int u = 0; u < 1000; ++u) {
    store->insert(ha, processor::hash_uid("a" + std::to_string(u)));
    store->insert(hb, processor::hash_uid("b" + std::to_string(u % 10)));
    store->insert(hc, processor::hash_uid("c" + std::to_string(u % 100)));
  }
  store->erase({0, 60});
  EXPECT_EQ(store->count(ha), 1000u);
  EXPECT_EQ(store->count(hc), 100u);
  EXPECT_TRUE(store->insert(hc, processor::hash_uid("new")));
  EXPECT_FALSE(store->insert(ha, processor::hash_uid("a7")));
  EXPECT_EQ(store->count(hc), 101u);
  EXPECT_EQ(store->pairs(), 1101u);
}

std::string subject_name(const ::testing::TestParamInfo<Subject>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Memory, WindowStoreTest,
                         ::testing::Values(Subject{"Map", [] { return std::make_shared<MemoryStore>(); }}),
                         subject_name);
INSTANTIATE_TEST_SUITE_P(RocksDb, WindowStoreTest,
                         ::testing::Values(Subject{"OneShard", [] { return make_rocksdb_store(1); }},
                                           Subject{"FourShards", [] { return make_rocksdb_store(4); }}),
                         subject_name);

}  // namespace
}  // namespace uniqd::state
