// The same cases run over every WindowStore implementation (the RocksDB store
// joins the list when it lands).
#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "state/memory_store.h"

namespace uniqd::state {
namespace {

using Factory = std::function<std::unique_ptr<WindowStore>()>;

class WindowStoreTest : public ::testing::TestWithParam<Factory> {};

TEST_P(WindowStoreTest, InsertCountErase) {
  auto store = GetParam()();
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
  auto store = GetParam()();
  auto h = store->open({2, 0});
  for (int i = 0; i < 100000; ++i) store->insert(h, processor::hash_uid(std::to_string(i % 50000)));
  EXPECT_EQ(store->count(h), 50000u);
  EXPECT_GT(store->memory_bytes(), 50000u * 16);
}

INSTANTIATE_TEST_SUITE_P(Memory, WindowStoreTest,
                         ::testing::Values(Factory([] { return std::make_unique<MemoryStore>(); })));

}  // namespace
}  // namespace uniqd::state
